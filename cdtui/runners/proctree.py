"""Finding and ending a stage's whole process tree, escapees included.

Every stage process gets a marker variable in its environment; a child that left the
process group (``setsid``, a double fork) still carries it, so ``/proc/*/environ`` finds it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

MARKER_VAR = "CDTUI_STAGE_TOKEN"


def _alive(stat: str) -> bool:
    """A zombie has exited; only its parent's wait is missing."""
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def stage_processes(pgid: int | None, token: str) -> set[int]:
    """Live pids in the process group ``pgid`` or carrying ``MARKER_VAR=token``."""
    needle = f"{MARKER_VAR}={token}".encode()
    found: set[int] = set()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if not _alive(stat):
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if pgid is not None and int(fields[2]) == pgid:
                found.add(pid)
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if needle in environ.split(b"\0"):
            found.add(pid)
    return found


def signal_all(pgid: int | None, pids: set[int], sig: int) -> None:
    """Send ``sig`` to the group and to each pid; vanished targets are fine."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
