"""known_hosts files as an operator reads them: which line names a host, what a key looks like.

asyncssh decides whether a key is trusted; these helpers only find the line to blame and write
new lines in OpenSSH's format (``[addr]:port`` for ports other than 22), so ``ssh`` agrees.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncssh import SSHKey

    from cdtui.config.models import Host

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


def resolve_path(value: str, base_dir: Path | None) -> Path:
    """``~`` expands; a relative path is taken from the project directory (else the cwd)."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def known_hosts_file(host: Host, base_dir: Path | None = None) -> Path:
    return resolve_path(host.known_hosts or DEFAULT_KNOWN_HOSTS, base_dir)


def host_entry(address: str, port: int) -> str:
    """The host field of a known_hosts line, as OpenSSH writes it."""
    return address if port == 22 else f"[{address}]:{port}"


def describe_key(key: SSHKey) -> tuple[str, str]:
    """(key type, ``SHA256:...`` fingerprint): what ``ssh`` shows an operator."""
    return key.get_algorithm(), key.get_fingerprint("sha256")


def read_known_hosts(path: Path):
    """The file as asyncssh trusts it; a missing file trusts nothing (and is not an error)."""
    import asyncssh

    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    return asyncssh.import_known_hosts(text)


def recorded_keys(path: Path, address: str, port: int, addr: str = "") -> list[tuple[int, SSHKey]]:
    """(line number, key) of every plain key line that asyncssh would apply to this host."""
    import asyncssh

    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    found: list[tuple[int, SSHKey]] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith(("#", "@")):
            continue
        try:
            keys = asyncssh.import_known_hosts(text).match(address, addr or address, port)[0]
        except (ValueError, asyncssh.KeyImportError):
            continue
        found.extend((number, key) for key in keys)
    return found


def append_key(path: Path, address: str, port: int, key: SSHKey) -> int:
    """Append one known_hosts line for the host; returns its line number."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    public = key.export_public_key("openssh").decode().split()
    line = f"{host_entry(address, port)} {public[0]} {public[1]}\n"
    existing = path.read_text() if path.exists() else ""
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    with path.open("a") as handle:
        handle.write(prefix + line)
    return len((existing + prefix).splitlines()) + 1
