"""Holder files: an exclusive ``flock`` that the kernel drops when its holder dies (even by
SIGKILL), so a dead holder never needs cleaning up, and a line in the file naming the holder, so a
refusal can say who has it. The router lock, the monitor lock and each notify sink's delivery lock
are these."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def try_exclusive(path: Path, holder: str = "") -> int | None:
    """The descriptor now holding ``path`` (created) with ``holder`` written in it; None while
    another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if holder:
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
    return fd


def let_go(fd: int | None) -> None:
    """Release: the holder's line is cleared first (a reader then sees nobody)."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def holder_of(path: Path, limit: int = 200) -> str | None:
    """What the holder of ``path`` wrote ("" if nothing), None when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, limit, 0).decode(errors="replace").strip()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
