"""After a stage: is its tree provably empty? Then the scan of /proc can be skipped.

Most stages leave nothing behind; scanning ``/proc`` after each (``proctree.stage_processes``)
was the largest per-stage cost of a matrix of short legs. Here a couple of system calls
decide, and only a positive proof skips the scan.
"""

from __future__ import annotations

import contextlib
import os

from cdtui.runners.proctree import RUNNING, is_subreaper


def left_nothing(pgid: int) -> bool:
    """Whether a finished stage whose group is ``pgid`` provably left no process behind, without
    the scan of ``/proc`` that ``stage_processes`` makes (False means "look", not "left some").

    Proof: cdtui is the child subreaper, so every process descending from the stage is a
    descendant of cdtui (an orphan is re-parented to the nearest subreaper above it: cdtui, or
    one of cdtui's own descendants). With no child left at all (``waitid`` says ECHILD), or
    only other stages' main processes and the group empty, no process of this stage is left.
    Only a process started by a daemon outside cdtui's tree with the stage's environment
    (``at``, ``systemd-run -E``) could carry the marker there; that is not the stage's tree.
    """
    if not is_subreaper():
        return False
    try:
        if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return False  # an exited child waits to be reaped: the scan sees to it
    except ChildProcessError:
        return True
    try:
        os.killpg(pgid, 0)
        return False  # someone is still in the group
    except ProcessLookupError:
        pass
    except OSError:
        return False
    children = _children()
    return children is not None and children <= RUNNING.keys()


def _children() -> set[int] | None:
    """This process's children (every thread's), None where the kernel does not list them.
    Read twice: a child moved between threads (its thread exited) mid-read is still seen."""
    found: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
        for _ in range(2):
            for tid in tasks:
                with contextlib.suppress(FileNotFoundError):  # that thread just ended
                    found.update(map(int, _read(f"/proc/self/task/{tid}/children").split()))
    except (OSError, ValueError):
        return None
    return found


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)
