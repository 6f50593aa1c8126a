"""Deploy the packaged shop as one colour of the blue/green release, or stop the colours.

The Release phase runs ``python scripts/deploy.py`` for the idle colour (``CDTUI_COLOUR``). It is
idempotent: it stops that colour's previous server (pid file), starts the .pyz detached (its own
session, output to its log) so the server outlives this command and cdtui, and waits for /health.
The port comes from the colour's URL in the release block (cdtui passes CDTUI_COLOUR_URL); run by
hand, from SHOP_BLUE_PORT / SHOP_GREEN_PORT, else 8102 / 8103.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

try:  # imported as scripts.deploy by the unit tests, run as scripts/deploy.py by the pipeline
    from scripts.staging import is_our_server, port_in_use, process_state, tail
except ModuleNotFoundError:
    from staging import is_our_server, port_in_use, process_state, tail

PROJECT = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT / ".cdtui-demo"
HOST = "127.0.0.1"
DEFAULT_PORTS = {"blue": 8102, "green": 8103}
COLOURS = tuple(DEFAULT_PORTS)
MARKER_VAR = "CDTUI_STAGE_TOKEN"  # cdtui ends processes carrying a finished stage's token


class DeployError(Exception):
    """A deploy or stop failed; the message is the one line the operator sees."""


@dataclass(frozen=True, slots=True)
class Colour:
    """Where one colour's server listens and keeps its files."""

    name: str
    port: int
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    @property
    def fault_file(self) -> Path:
        return self.state_dir / f"fault-{self.name}"

    @property
    def package_copy(self) -> Path:
        # Each colour runs its own copy: `python package.py` rewrites dist/ in place, and a
        # zipapp whose file changes under it fails on its next lazy import.
        return self.state_dir / f"shop-{self.name}.pyz"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def colour_of(name: str, env: dict[str, str], state_dir: Path = STATE_DIR) -> Colour:
    """The colour named ``name`` on the port of the URL cdtui checks it at (CDTUI_COLOUR_URL,
    when cdtui deploys that colour), else SHOP_<COLOUR>_PORT, else the default."""
    if name not in DEFAULT_PORTS:
        raise DeployError(f"colour must be blue or green, got {name!r}")
    variable = f"SHOP_{name.upper()}_PORT"
    text = env.get(variable) or str(DEFAULT_PORTS[name])
    if env.get("CDTUI_COLOUR") == name and env.get("CDTUI_COLOUR_URL"):
        variable = "CDTUI_COLOUR_URL"
        port = urlsplit(env["CDTUI_COLOUR_URL"]).port
        text = str(port) if port else ""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DeployError(f"{variable} must be a port 1..65535, got {text!r}")
    return Colour(name, int(text), state_dir)


def find_package(env: dict[str, str], dist: Path) -> Path:
    """The artifact cdtui hands the deploy (CDTUI_ARTIFACT), else the one shop-*.pyz in dist/."""
    stored = env.get("CDTUI_ARTIFACT")
    if stored and Path(stored).is_file():
        return Path(stored)
    found = sorted(dist.glob("shop-*.pyz"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise DeployError(f"{what} shop-*.pyz in {dist}/; run `python package.py` first")
    return found[0]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def probe(url: str) -> tuple[int, dict[str, object]] | None:
    """(status, JSON body) of GET /health, None while nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1.0) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def stop(colour: Colour, grace: float = 5.0) -> str:
    """Stop the colour's server named in its pid file; what happened, in a few words."""
    if not colour.pid_file.exists():
        return f"{colour.name} not running"
    text = colour.pid_file.read_text().strip()
    pid = int(text) if text.isdigit() else 0
    said = f"{colour.name} pid {text or '?'} was not running"
    if pid and process_state(pid) == "alive" and is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        stop_at = time.monotonic() + grace
        while process_state(pid) == "alive" and time.monotonic() < stop_at:
            time.sleep(0.05)
        said = f"stopped {colour.name} (pid {pid})"
        if process_state(pid) == "alive":
            os.kill(pid, signal.SIGKILL)
            said = f"killed {colour.name} (pid {pid} ignored SIGTERM for {grace:g}s)"
    colour.pid_file.unlink(missing_ok=True)
    return said


def ensure_db(db: Path) -> None:
    """Seed the catalogue the first time; both colours share it."""
    if db.exists():
        return
    seed = subprocess.run(
        [sys.executable, "-m", "shop.seed", "--db", str(db)],
        cwd=PROJECT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if seed.returncode != 0:
        last = (seed.stderr or seed.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DeployError(f"seeding {db} failed (exit {seed.returncode}): {last[0]}")


def server_env(colour: Colour, db: Path, env: dict[str, str]) -> dict[str, str]:
    """The shop's environment; without cdtui's stage marker, so no stage clean-up ends it."""
    server = {key: value for key, value in env.items() if key != MARKER_VAR}
    server.update(
        SHOP_COLOUR=colour.name,
        SHOP_PORT=str(colour.port),
        SHOP_DB=str(db),
        SHOP_FAULT_FILE=str(colour.fault_file),
    )
    return server


def deploy(colour: Colour, env: dict[str, str], wait: float = 10.0) -> str:
    """(Re)start the colour from the package; the one-line report."""
    package = find_package(env, PROJECT / "dist")
    digest = sha256_of(package)
    colour.state_dir.mkdir(parents=True, exist_ok=True)
    stop(colour)
    if port_in_use(HOST, colour.port):
        raise DeployError(
            f"{HOST}:{colour.port} is taken by a process deploy.py did not start; stop it"
        )
    db = colour.state_dir / "shop.db"
    ensure_db(db)
    staged = colour.package_copy.with_suffix(".tmp")
    shutil.copyfile(package, staged)
    staged.replace(colour.package_copy)
    command = [sys.executable, str(colour.package_copy), "serve", "--host", HOST]
    command += ["--port", str(colour.port), "--db", str(db), "--colour", colour.name]
    with open(colour.log_file, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=server_env(colour, db, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    colour.pid_file.write_text(f"{process.pid}\n")
    stop_at = time.monotonic() + wait
    while time.monotonic() < stop_at:
        if process.poll() is not None:
            colour.pid_file.unlink(missing_ok=True)
            last = tail(colour.log_file, offset, lines=1) or "no output"
            raise DeployError(f"{colour.name} exited with {process.returncode}: {last}")
        answer = probe(colour.url)
        if answer is not None and answer[1].get("colour") == colour.name:
            status, body = answer
            line = (
                f"deployed shop {body.get('version', '?')} (sha256 {digest[:12]}) as "
                f"{colour.name} on {HOST}:{colour.port} (pid {process.pid})"
            )
            if status != 200:
                line += f"; its fault switch is on, /health answers {status}: {fault_hint(colour)}"
            return line
        time.sleep(0.05)
    stop(colour)
    raise DeployError(f"no answer from {colour.url}/health in {wait:g}s; see {colour.log_file}")


def fault_hint(colour: Colour) -> str:
    return f"`python scripts/fault.py off {colour.name}` heals it"


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "words",
        nargs="*",
        metavar="COLOUR | stop [COLOUR|all]",
        help="the colour to deploy (default: $CDTUI_COLOUR), or stop one colour or all",
    )
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    words: list[str] = args.words
    try:
        if words[:1] == ["stop"]:
            if len(words) > 2:
                raise DeployError("usage: deploy.py stop [blue|green|all]")
            which = words[1] if len(words) == 2 else "all"
            names = COLOURS if which == "all" else (which,)
            for name in names:
                print(f"deploy: {stop(colour_of(name, env))}")
            return 0
        if len(words) > 1:
            raise DeployError("usage: deploy.py [blue|green] or deploy.py stop [blue|green|all]")
        name = words[0] if words else env.get("CDTUI_COLOUR", "")
        if not name:
            raise DeployError("which colour? pass blue or green, or set CDTUI_COLOUR")
        print(deploy(colour_of(name, env), env, args.wait))
        return 0
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
