"""Stage processes that outlived a cdtui killed with ``kill -9``: recorded, found, ended.

While a local attempt runs, its process group, marker token and start time are a row of
``stage_procs``. When its run is later marked INTERRUPTED (its driver died), those three find
what is still alive: the marker in ``/proc/PID/environ``, or the group among processes started
after the stage began (pids and groups are reused, start times are not). An escapee that both
left the group and cleaned its environment is seen by cdtui (its subreaper) as it runs: its
group is then recorded too, with no token (a process still in it after a crash is found).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from cdtui.engine.events import Status
from cdtui.runners.proctree import RunningStage, stage_processes
from cdtui.store.db import RunDB
from cdtui.store.liveness import boot_id, current

GRACE = 2.0
Key = tuple[int, str, str, int]  # run id, phase, stage, attempt


@dataclass(frozen=True, slots=True)
class Orphan:
    pid: int
    run_id: int
    phase: str
    stage: str
    attempt: int
    name: str  # the process's command name, for the operator

    def describe(self) -> str:
        return f"pid {self.pid} ({self.name}) of run {self.run_id} {self.phase}/{self.stage}"


def track(submit: Callable[[Callable[[RunDB], None]], None], key: Key, proc: RunningStage) -> None:
    """A row per marker-less orphan's group charged to the attempt (token ''), while cdtui is
    alive to see them (runners/proctree.py); the attempt's own row (its group and marker) is
    ``insert``-ed with its RUNNING state, by the store."""

    def group(pgid: int) -> None:
        submit(lambda db: insert(db, key, pgid, "", proc.since))

    proc.on_group.append(group)


def insert(db: RunDB, key: Key, pgid: int, token: str, since: int) -> None:
    """One row per running local attempt: what finds its processes after a crash."""
    db.execute(
        "INSERT INTO stage_procs (run_id, phase, stage, attempt, pgid, token, since, boot_id,"
        " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, pgid, token, since, boot_id(), time.time()),
    )


def find(db: RunDB) -> list[Orphan]:
    """Live processes of attempts left INTERRUPTED on this host since its last boot."""
    who = current()
    rows = db.execute(
        "SELECT p.run_id, p.phase, p.stage, p.attempt, p.pgid, p.token, p.since FROM stage_procs p"
        " JOIN runs r ON r.id = p.run_id JOIN attempt_states a ON a.seq = (SELECT MAX(seq)"
        " FROM attempt_states WHERE run_id = p.run_id AND phase = p.phase AND stage = p.stage"
        " AND attempt = p.attempt) WHERE a.status = ? AND r.hostname = ? AND p.boot_id = ?"
        " ORDER BY p.seq",
        (Status.INTERRUPTED.value, socket.gethostname(), who.boot_id),
    ).fetchall()
    found: dict[int, Orphan] = {}
    for run_id, phase, stage, attempt, pgid, token, since in rows:
        for pid in sorted(stage_processes(pgid, token, since)):
            if _started(pid) >= since:  # a reused group id names someone else's process
                found.setdefault(pid, Orphan(pid, run_id, phase, stage, attempt, _name(pid)))
    return list(found.values())


def end(orphans: list[Orphan], grace: float = GRACE) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace``; the pids still alive after that (none, normally)."""
    pids = {o.pid for o in orphans}
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (pids := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal(pids, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while (pids := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(pids)


def _signal(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stat(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].decode("ascii", "replace").split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def _started(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else -1


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().decode(errors="replace").strip()
    except OSError:
        return "?"
