"""Finding and ending a stage's whole process tree, escapees included.

Every stage process gets a marker variable in its environment; a child that left the
process group (``setsid``, a double fork) still carries it, so ``/proc/*/environ`` finds it.
One that also cleaned its environment (``setsid env -i ...``) carries nothing: for those cdtui
is a child subreaper (Linux), so an orphan is re-parented to cdtui instead of init and its
ancestry still leads here (``adopted``). Such orphans are reaped by ``reap_adopted``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MARKER_VAR = "CDTUI_STAGE_TOKEN"
# In cdtui's own environment once it is a subreaper, never in a stage's: an orphan carrying it
# came from cdtui itself (the embedded router's double fork), not from a stage.
OWN_VAR = "CDTUI_SUBREAPER"
PR_SET_CHILD_SUBREAPER = 36
_subreaper_of: int | None = None  # the pid that set it: a fork does not inherit it


@dataclass(slots=True)
class RunningStage:
    """What finds a running stage's processes again, even from another cdtui after a crash."""

    pgid: int
    token: str
    since: int  # start ticks of the stage's main process, or up to two ticks before
    groups: set[int] = field(default_factory=set)  # groups of marker-less orphans charged to it
    on_group: list[Callable[[int], None]] = field(default_factory=list)  # told each new group


RUNNING: dict[int, RunningStage] = {}  # main pid -> stage, from spawn until its exit is reaped
# What keep_children stages left running on purpose ((pid, start ticks) and their groups): an
# orphan among them is never charged to a stage that happens to run when it is adopted.
KEPT: set[tuple[int, int]] = set()
KEPT_GROUPS: set[int] = set()


def become_subreaper() -> bool:
    """Make this process the child subreaper (once per process); False where unsupported."""
    global _subreaper_of
    if _subreaper_of == os.getpid():
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    _subreaper_of = os.getpid()
    os.environ[OWN_VAR] = f"{_subreaper_of}:{start_ticks(_subreaper_of)}"
    return True


def is_subreaper() -> bool:
    """Whether this process is the child subreaper (a fork does not inherit it)."""
    return _subreaper_of == os.getpid()


def _own(pid: int) -> bool:
    """Whether ``pid`` was started by cdtui itself (it inherited ``OWN_VAR``), not by a stage."""
    needle = f"{OWN_VAR}={os.environ.get(OWN_VAR, '')}".encode()
    try:
        return needle in _read(f"/proc/{pid}/environ", 1 << 20).split(b"\0")
    except OSError:
        return False


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


_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def ticks_now() -> int:
    """A lower bound of ``start_ticks`` of any process spawned after this call, from the clock
    instead of ``/proc``: reading a just-spawned process's stat waits for its exec (~30 us of
    every stage). The kernel stamps a process's start from CLOCK_BOOTTIME too; one tick less
    keeps rounding on the safe side (a stage's ``since`` may only be early: it is a floor).
    0 where that clock is missing, as ``start_ticks`` is without ``/proc``."""
    try:
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return 0
    return max(0, now * _HZ // 1_000_000_000 - 1)


def _fields(pid: int) -> list[bytes] | None:
    """``/proc/pid/stat`` after the command name: [state, ppid, pgrp, ...]; None if gone."""
    try:
        return _read(f"/proc/{pid}/stat", 1024).rpartition(b")")[2].split()
    except OSError:
        return None


def _owner(start: int) -> int | None:
    """The running stage an adopted orphan started at ``start`` is charged to: the newest one
    begun before it (exact when stages run one at a time, a guess when several overlap)."""
    best: tuple[int, int] | None = None
    for main, stage in RUNNING.items():
        if stage.since <= start and (best is None or stage.since >= best[0]):
            best = (stage.since, main)
    return None if best is None else best[1]


Stats = dict[int, list[bytes]]


def _scan(floor: int = 0) -> Stats:
    """``_fields`` of every live process from pid ``floor`` up, but ours."""
    me, found = os.getpid(), {}
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) >= floor and int(name) != me:
            fields = _fields(int(name))
            if fields is not None and len(fields) > 19 and fields[0] not in (b"Z", b"X"):
                found[int(name)] = fields  # a zombie has exited; only a wait is missing
    return found


def _orphans(stats: Stats) -> dict[int, int]:
    """Live orphans re-parented to us -> the running stage charged with them: not a stage's
    main, not a child in cdtui's own group (a subprocess), not started by cdtui itself."""
    me = os.getpid()
    if _subreaper_of != me or not RUNNING:
        return {}
    charged = {}
    for pid, fields in stats.items():
        if int(fields[1]) != me or pid in RUNNING or int(fields[2]) == os.getpgrp():
            continue
        start = int(fields[19])
        if (pid, start) in KEPT or int(fields[2]) in KEPT_GROUPS:
            continue  # a keep_children stage left it running on purpose
        marker = _marker_of(pid)
        if marker is not None:  # it says whose it is: that stage's, if that stage still runs
            owner = next((main for main, st in RUNNING.items() if st.token == marker), None)
        else:
            owner = _owner(start)
        if owner is not None and not _own(pid):
            charged[pid] = owner
    return charged


def _marker_of(pid: int) -> str | None:
    """The stage token an orphan carries (None: a cleaned environment, or unreadable)."""
    try:
        environ = _read(f"/proc/{pid}/environ", 1 << 20)
    except OSError:
        return None
    prefix = f"{MARKER_VAR}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode("utf-8", "replace")
    return None


def keep(pids: set[int]) -> None:
    """A keep_children stage ended: what it left running is nobody's leftover from now on."""
    for pid in pids:
        fields = _fields(pid)
        if fields is not None and len(fields) > 19:
            KEPT.add((pid, int(fields[19])))
            KEPT_GROUPS.add(int(fields[2]))


def _descends(pid: int, roots: set[int], since: int, stats: Stats) -> bool:
    """Whether a parent chain of processes started since the stage leads to one of ``roots``."""
    for _ in range(64):
        if pid in roots:
            return True
        fields = stats.get(pid)
        if fields is None or int(fields[19]) < since:
            return False
        pid = int(fields[1])
    return False


def stage_processes(pgid: int | None, token: str, since: int = 0, quick: bool = False) -> set[int]:
    """Live pids in the process group ``pgid``, carrying ``MARKER_VAR=token``, or descending
    from the stage (its main process ``pgid`` when this cdtui runs it, or an orphan
    re-parented to cdtui and charged to the stage: ``_orphans``).

    Only processes started at or after ``since`` (clock ticks, see ``start_ticks``) can be
    the stage's escapees, so only their environments are read. ``quick`` also trusts pid
    order (descendants have higher pids than the leader ``pgid`` unless pids wrapped, which
    ``ns_last_pid`` tells): the check after a stage then reads a handful of files (and after
    most stages ``left_nothing`` proves there is nothing to look for, without any).
    """
    needle = f"{MARKER_VAR}={token}".encode()
    floor = 0
    if quick and pgid is not None:
        try:
            if int(_read("/proc/sys/kernel/ns_last_pid", 32)) >= pgid:
                floor = pgid
        except (OSError, ValueError):
            pass
    stats = _scan(floor)
    roots: set[int] = set()
    if pgid in RUNNING:
        roots = {pgid} | {p for p, owner in _orphans(stats).items() if owner == pgid}
    found: set[int] = set()
    for pid, fields in stats.items():
        try:
            if pgid is not None and int(fields[2]) == pgid:
                found.add(pid)
                continue
            if int(fields[19]) < since:
                continue
            if _descends(pid, roots, since, stats):
                found.add(pid)
                continue
            if not token:
                continue
            environ = _read(f"/proc/{pid}/environ", 1 << 20)
        except (OSError, ValueError):
            continue
        if needle in environ.split(b"\0"):
            found.add(pid)
    return found


def note_adopted() -> None:
    """Charge the groups of live orphans re-parented to us to their stages and tell listeners
    (the store records them: after a crash, a marker-less escapee is found by its group)."""
    if _subreaper_of != os.getpid() or not RUNNING:
        return
    stats = _scan()
    for pid, owner in _orphans(stats).items():
        stage, group = RUNNING[owner], int(stats[pid][2])
        if group not in stage.groups:
            stage.groups.add(group)
            for listener in stage.on_group:
                listener(group)


def reap_adopted() -> list[int]:
    """Wait for exited orphans re-parented to us, never for a stage's main process (its
    LocalProcess waits for it) nor for a child in cdtui's own group (a subprocess's)."""
    me = os.getpid()
    if _subreaper_of != me:
        return []
    reaped = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in RUNNING:
            continue
        fields = _fields(int(name))
        try:
            if fields is None or fields[0] != b"Z" or int(fields[1]) != me:
                continue
            if int(fields[2]) == os.getpgrp():
                continue
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(int(name), os.WNOHANG)[0]:
                    reaped.append(int(name))
        except (IndexError, ValueError):
            continue
    return reaped


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
