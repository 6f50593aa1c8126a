"""Finding and ending a stage's whole process tree, escapees included.

Every stage process gets a marker variable in its environment; a child that left the
process group (``setsid``, a double fork) still carries it, so ``/proc/*/environ`` finds it.
"""

from __future__ import annotations

import contextlib
import os
import signal

MARKER_VAR = "CDTUI_STAGE_TOKEN"


def _read(path: str, size: int = 4096) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def start_ticks(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (0 if it is gone)."""
    try:
        return int(_read(f"/proc/{pid}/stat").rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def stage_processes(pgid: int | None, token: str, since: int = 0, quick: bool = False) -> set[int]:
    """Live pids in the process group ``pgid`` or carrying ``MARKER_VAR=token``.

    Only processes started at or after ``since`` (clock ticks, see ``start_ticks``) can be
    the stage's escapees, so only their environments are read. ``quick`` also trusts pid
    order (descendants have higher pids than the leader ``pgid`` unless pids wrapped, which
    ``ns_last_pid`` tells): the check after every stage then reads a handful of files.
    """
    needle = f"{MARKER_VAR}={token}".encode()
    found: set[int] = set()
    me = os.getpid()
    floor = 0
    if quick and pgid is not None:
        try:
            if int(_read("/proc/sys/kernel/ns_last_pid", 32)) >= pgid:
                floor = pgid
        except (OSError, ValueError):
            pass
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me or pid < floor:
            continue
        try:
            fields = _read(f"/proc/{name}/stat", 1024).rpartition(b")")[2].split()
            if fields[0] in (b"Z", b"X"):  # exited; only its parent's wait is missing
                continue
            if pgid is not None and int(fields[2]) == pgid:
                found.add(pid)
                continue
            if not token or int(fields[19]) < since:
                continue
            environ = _read(f"/proc/{name}/environ", 1 << 20)
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
