"""Start or stop the local "staging" shop from the packaged .pyz (the Load & Perf phase).

``start`` is idempotent: it stops the server a previous run left behind (found by its pid
file) before starting a new one, then waits until /health answers. The server writes to a
log file, never to this script's stdout, so the stage's output pipe closes when we exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STATE_DIR = Path(".cdtui-demo")


def find_package(dist: Path) -> Path:
    """The one shop-*.pyz that package.py left in dist/."""
    found = sorted(dist.glob("shop-*.pyz"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise SystemExit(f"staging: {what} shop-*.pyz in {dist}/; run `python package.py` first")
    return found[0]


def process_state(pid: int) -> str | None:
    """'alive', 'zombie' or None (gone); a zombie counts as stopped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "alive"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "alive"
    return "zombie" if stat.rpartition(")")[2].split()[0] == "Z" else "alive"


def is_our_server(pid: int) -> bool:
    """Guard against a recycled pid: the command line must be a shop .pyz serving."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return process_state(pid) == "alive"  # no /proc: trust the pid file
    return b"serve" in argv and any(arg.endswith(b".pyz") for arg in argv)


def stop(pid_file: Path, grace: float = 5.0) -> None:
    """Stop the server named in ``pid_file``, if any; SIGKILL after ``grace`` seconds."""
    if not pid_file.exists():
        print("staging: not running (no pid file)")
        return
    text = pid_file.read_text().strip()
    pid = int(text) if text.isdigit() else 0
    if pid and process_state(pid) == "alive" and is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        stop_at = time.monotonic() + grace
        while process_state(pid) == "alive" and time.monotonic() < stop_at:
            time.sleep(0.05)
        if process_state(pid) == "alive":
            os.kill(pid, signal.SIGKILL)
            print(f"staging: pid {pid} ignored SIGTERM for {grace:g}s; killed")
        else:
            print(f"staging: stopped pid {pid}")
    else:
        print(f"staging: pid {text or '?'} from {pid_file} is not running; cleaned up")
    pid_file.unlink(missing_ok=True)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1.0) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def tail(path: Path, offset: int, lines: int = 20) -> str:
    """The last lines the server wrote to its log since ``offset`` (this start's share)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start(args: argparse.Namespace) -> int:
    pid_file: Path = args.state_dir / "staging.pid"
    log_file: Path = args.state_dir / "staging.log"
    stop(pid_file)
    package = find_package(args.dist)
    if port_in_use(args.host, args.port):
        print(f"staging: {args.host}:{args.port} is taken by a process we did not start; stop it")
        return 1
    args.state_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(package), "serve", "--host", args.host]
    command += ["--port", str(args.port), "--db", args.db, "--colour", args.colour]
    with open(log_file, "ab") as log:
        log_offset = log.tell()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    pid_file.write_text(f"{process.pid}\n")
    url = f"http://{args.host}:{args.port}"
    stop_at = time.monotonic() + args.wait
    while time.monotonic() < stop_at:
        if process.poll() is not None:
            print(f"staging: server exited with {process.returncode}; end of {log_file}:")
            print(tail(log_file, log_offset))
            pid_file.unlink(missing_ok=True)
            return 1
        answer = health(url)
        if answer is not None and answer.get("status") == "ok":
            print(f"staging: {package.name} up at {url} pid {process.pid} health {answer}")
            return 0
        time.sleep(0.05)
    print(f"staging: no healthy answer from {url}/health in {args.wait:g}s; stopping it")
    stop(pid_file)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SHOP_PORT") or 8101))
    parser.add_argument("--db", default=os.environ.get("SHOP_DB") or str(STATE_DIR / "shop.db"))
    parser.add_argument("--colour", default=os.environ.get("SHOP_COLOUR") or "blue")
    parser.add_argument("--dist", type=Path, default=Path("dist"))
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="pid and log files")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(args.state_dir / "staging.pid")
        return 0
    return start(args)


if __name__ == "__main__":
    sys.exit(main())
