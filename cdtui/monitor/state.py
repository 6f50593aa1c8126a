"""What a running monitor shares with other processes besides runs.db: its lock (one monitor per
project, ever: ``cdtui monitor`` or a console) and a snapshot of its checks' recent history,
rewritten about once a second, that the console draws without checking anything itself.

STATE/monitor/monitor.lock holds an flock and the holder's pid; STATE/monitor/checks.json the
snapshot (replaced atomically, so a reader never sees half of one).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MonitorBusy(_holder(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def running_pid(project_dir: Path) -> int | None:
    """The pid of the monitor that holds the lock now (0: unknown), None when none runs."""
    return _holder(monitor_dir(project_dir) / "monitor.lock")


def _holder(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


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
