"""Is the process that drives a run still alive? A pid alone lies: pids are reused.

A process is identified by (hostname, boot id, pid, start time in clock ticks since boot),
read from ``/proc``. Same pid with another start time, or another boot, means the driver died.
Where ``/proc`` is missing (macOS) we fall back to ``kill(pid, 0)``, which cannot see reuse.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

_PROC = Path("/proc")


class Liveness(Enum):
    ALIVE = "alive"
    DEAD = "dead"  # no such process, or a zombie
    REUSED = "reused"  # the pid now belongs to another process
    REBOOTED = "rebooted"  # the host was restarted since
    UNKNOWN = "unknown"  # another host: we cannot tell, so we must not judge


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    hostname: str
    start_ticks: int | None
    boot_id: str


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parens)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # Field 22 of stat is starttime; after dropping pid and comm it is index 19.
    return int(fields[19]) if fields and len(fields) > 19 else None


@functools.cache
def boot_id() -> str:
    """This boot's id, read once: it cannot change while this process lives."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def current() -> ProcessIdentity:
    """The identity of this process, recorded with every run it begins."""
    pid = os.getpid()
    return ProcessIdentity(pid, socket.gethostname(), _start_ticks(pid), boot_id())


def check(identity: ProcessIdentity) -> Liveness:
    """Judge a recorded driver against what this host sees now."""
    if identity.hostname != socket.gethostname():
        return Liveness.UNKNOWN
    if identity.boot_id and boot_id() and identity.boot_id != boot_id():
        return Liveness.REBOOTED
    if _PROC.joinpath("self").exists():
        fields = _stat_fields(identity.pid)
        if fields is None or fields[0] in ("Z", "X"):
            return Liveness.DEAD
        if identity.start_ticks is not None and int(fields[19]) != identity.start_ticks:
            return Liveness.REUSED
        return Liveness.ALIVE
    try:
        os.kill(identity.pid, 0)
    except ProcessLookupError:
        return Liveness.DEAD
    except PermissionError:
        return Liveness.ALIVE
    return Liveness.ALIVE


def death_reason(identity: ProcessIdentity, verdict: Liveness) -> str:
    """The sentence an operator reads in `cdtui history` for an interrupted run."""
    base = f"cdtui process {identity.pid} died"
    if verdict is Liveness.REUSED:
        return f"{base} (its pid was reused)"
    if verdict is Liveness.REBOOTED:
        return f"{base} (host {identity.hostname} rebooted)"
    return base
