"""What a running monitor shares with other processes besides runs.db: its lock (one monitor per
project, ever: ``cdtui monitor`` or a console) and a snapshot of its checks' recent history,
rewritten about once a second, that the console draws without checking anything itself.

STATE/monitor/monitor.lock holds an flock and the holder's pid; STATE/monitor/checks.json the
snapshot (replaced atomically, so a reader never sees half of one).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdtui.store.flock import holder_of, let_go, try_exclusive
from cdtui.store.paths import ensure_state_dir, state_dir

STALE_AFTER = 10.0
"""Seconds without a rewrite after which a snapshot is old news (its monitor stalled or died)."""


class MonitorBusy(Exception):
    """Another monitor watches this project; a second one would act twice on every alert."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"a monitor already runs for this project ({who}); it is never run twice")


def monitor_dir(project_dir: Path, create: bool = False) -> Path:
    root = ensure_state_dir(project_dir) if create else state_dir(project_dir)
    path = root / "monitor"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


class MonitorLock:
    """The flock that makes a monitor the only one; released when closed or the process dies."""

    def __init__(self, project_dir: Path) -> None:
        self.path = monitor_dir(project_dir, create=True) / "monitor.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self._fd = try_exclusive(self.path, f"{os.getpid()}\n")
        if self._fd is None:
            raise MonitorBusy(_holder(self.path))

    def release(self) -> None:
        let_go(self._fd)
        self._fd = None


def running_pid(project_dir: Path) -> int | None:
    """The pid of the monitor that holds the lock now (0: unknown), None when none runs."""
    return _holder(monitor_dir(project_dir) / "monitor.lock")


def _holder(path: Path) -> int | None:
    text = holder_of(path, 32)
    if text is None:
        return None
    return int(text) if text.isdigit() else 0


@dataclass
class Snapshot:
    pid: int
    started: float
    written: float
    checks: dict[str, dict[str, Any]]  # name -> {target, kind, interval, state, history: [...]}

    @property
    def fresh(self) -> bool:
        return time.time() - self.written < STALE_AFTER


def write_snapshot(project_dir: Path, snapshot: Snapshot) -> None:
    path = monitor_dir(project_dir, create=True) / "checks.json"
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(snapshot.__dict__, separators=(",", ":")))
    os.replace(temp, path)


def read_snapshot(project_dir: Path) -> Snapshot | None:
    try:
        data = json.loads((monitor_dir(project_dir) / "checks.json").read_text())
        return Snapshot(**data)
    except (OSError, ValueError, TypeError):
        return None
