"""Real OpenSSH servers on loopback for the SSH tests and benchmarks: a small fleet in a temp dir.

Each server gets its own throwaway host key, config and port; all accept one throwaway user key
and log in as the current user. ``SetEnv SHLVL=1`` keeps bash from sourcing ``~/.bashrc`` for
each command (FIELD-NOTES: root's rc here costs ~170 ms), so tests time our code, not the rc.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.routing_fixtures import require

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
START_TIMEOUT = 5.0

CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
AuthorizedKeysFile {authorized_keys}
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
{extra}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_sshd() -> None:
    """Skip locally when OpenSSH's server is missing; under CI=true that is a failure."""
    require(os.access(SSHD, os.X_OK), f"{SSHD} (apt-get install openssh-server)")


def write_key(path: Path) -> str:
    """A fresh ed25519 private key at ``path`` (+ ``.pub``); returns the public key line."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    public = key.export_public_key("openssh").decode().strip()
    path.with_name(path.name + ".pub").write_text(public + "\n")
    return public


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children first), from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_bytes().rpartition(b")")[2].split()
        except OSError:
            continue
        if fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class SshServer:
    """One sshd: ``host()`` gives the inventory entry that reaches it."""

    name: str
    root: Path
    user_key: Path
    known_hosts: Path
    port: int = field(default_factory=free_port)
    extra_config: str = "SetEnv SHLVL=1\n"
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.root / "host_key"

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def host(self, **changes: object):
        from cdtui.config.models import Host

        values: dict[str, object] = {
            "address": "127.0.0.1",
            "port": self.port,
            "user": getpass.getuser(),
            "identity": str(self.user_key),
            "known_hosts": str(self.known_hosts),
        }
        return Host.model_validate({**values, **changes})

    def known_hosts_line(self) -> str:
        key = self.host_key.with_name("host_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n"

    def start(self) -> None:
        """Start in the foreground (``-D -e``) and wait until the SSH banner answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            write_key(self.host_key)
        self.config.write_text(
            CONFIG.format(
                port=self.port,
                host_key=self.host_key,
                authorized_keys=self.user_key.with_name(self.user_key.name + ".pub"),
                extra=self.extra_config,
            )
        )
        os.makedirs("/run/sshd", exist_ok=True)
        log = (self.root / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                if sock.recv(64).startswith(b"SSH-"):
                    return
            time.sleep(0.01)
        raise RuntimeError(f"sshd on port {self.port} gave no banner: {self.log_text()}")

    def log_text(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def sessions(self) -> list[int]:
        """Per-connection sshd processes (direct children of the listener)."""
        return [p for p in descendants(self.pid) if _ppid(p) == self.pid]

    def stop(self, sessions: bool = True) -> None:
        """Stop the listener by PID; with ``sessions`` also every connection and its processes."""
        if self.process is None:
            return
        victims = descendants(self.pid) if sessions else []
        for pid in [self.pid, *victims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(5)
        self.process = None

    def drop_connections(self) -> None:
        """The host goes away mid-stage: every connection's sshd dies, the listener stays."""
        for pid in self.sessions():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def regenerate_host_key(self) -> None:
        """A reinstalled (or impostor) host: new host key, same port, restarted."""
        self.stop()
        self.host_key.unlink()
        write_key(self.host_key)
        self.start()


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class Fleet:
    """N servers sharing one user key; ``known_hosts`` trusts them all (``trust=False``: none)."""

    root: Path
    servers: list[SshServer]
    user_key: Path
    known_hosts: Path

    def __getitem__(self, index: int) -> SshServer:
        return self.servers[index]

    def hosts(self, **changes: object) -> dict:
        return {server.name: server.host(**changes) for server in self.servers}

    def trust_all(self) -> None:
        self.known_hosts.write_text("".join(s.known_hosts_line() for s in self.servers))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_fleet(root: Path, count: int, *, trust: bool = True, extra_config: str | None = None):
    """Start ``count`` servers under ``root`` (host names ``host0``, ``host1``, ...)."""
    require_sshd()
    root.mkdir(parents=True, exist_ok=True)
    user_key = root / "user_key"
    write_key(user_key)
    known_hosts = root / "known_hosts"
    known_hosts.touch()
    servers = []
    for index in range(count):
        server = SshServer(f"host{index}", root / f"host{index}", user_key, known_hosts)
        if extra_config is not None:
            server.extra_config = extra_config
        servers.append(server)
    fleet = Fleet(root, servers, user_key, known_hosts)
    try:
        for server in servers:
            server.start()
    except BaseException:
        fleet.stop()
        raise
    if trust:
        fleet.trust_all()
    return fleet


@contextlib.contextmanager
def running_fleet(root: Path, count: int, **options: object) -> Iterator[Fleet]:
    fleet = start_fleet(root, count, **options)
    try:
        yield fleet
    finally:
        fleet.stop()


class Captured:
    """An ``on_output`` callback that keeps each stream's bytes apart."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, bytes]] = []

    def __call__(self, stream: str, data: bytes) -> None:
        self.chunks.append((stream, data))

    def __getitem__(self, stream: str) -> bytes:
        return b"".join(d for s, d in self.chunks if s == stream)


async def run_remote(pool, server: SshServer, command: str | list[str], timeout=10.0, **options):
    """Start and wait one RemoteProcess on ``server``: (result, Captured, process)."""
    import asyncio

    from cdtui.runners.ssh import RemoteProcess

    out = Captured()
    process = RemoteProcess(pool, server.name, server.host(), command, on_output=out, **options)
    await asyncio.wait_for(process.start(), 10)
    result = await asyncio.wait_for(process.wait(timeout), 20)
    return result, out, process


def fingerprint(server: SshServer) -> str:
    """The server's host key fingerprint as ``ssh`` shows it (``SHA256:...``)."""
    import asyncssh

    key = asyncssh.read_public_key(str(server.host_key) + ".pub")
    return key.get_fingerprint("sha256")


# Shared fixtures: a test module imports them by name.


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Three trusted servers, stopped (with every session process) after the test."""
    with running_fleet(tmp_path / "fleet", 3) as servers:
        yield servers


@pytest.fixture
def sshd(fleet: Fleet) -> SshServer:
    return fleet[0]


@pytest.fixture
async def pool(fleet: Fleet):
    from cdtui.runners.ssh import SshPool

    pool = SshPool(fleet.hosts())
    yield pool
    await pool.close()
