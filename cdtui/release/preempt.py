"""Rollback is the emergency button: it never waits on a release that another cdtui drives.

The preempting rollback leaves an abort request beside the router's lock; the driving release
polls for it, aborts (all traffic back on its live colour, which is where a rollback of a release
in progress goes) and gives the lock up. A holder that is gone loses its flock to the kernel, so
its lock is taken at once; one that lives but does not answer within the wait is named, with how
to end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cdtui.config.release import ReleaseSpec
from cdtui.release.control import Handle, holding, key_of
from cdtui.store.releases import ReleaseLocked, RouterLock

POLL_S = 0.1
"""How often a release looks for an abort request, and a rollback for the freed lock."""
WAIT_S = 15.0
"""How long a rollback waits for the driving release to abort before it names the holder."""


def request_path(project_dir: Path, key: str) -> Path:
    return RouterLock(project_dir, key).path.with_suffix(".abort")


def ask_to_abort(project_dir: Path, key: str, who: str) -> None:
    path = request_path(project_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".abort.{os.getpid()}")
    temporary.write_text(json.dumps({"who": who, "at": time.time(), "pid": os.getpid()}))
    os.replace(temporary, path)  # a reader never sees half a request


def abort_request(project_dir: Path, key: str, since: float) -> str | None:
    """Who asked the release that started at ``since`` to abort, or None."""
    try:
        request = json.loads(request_path(project_dir, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(request, dict) or float(request.get("at", 0)) < since:
        return None  # left from before this release began
    return str(request.get("who", "another cdtui"))


def clear_request(project_dir: Path, key: str) -> None:
    with contextlib.suppress(OSError):
        request_path(project_dir, key).unlink()


async def abort_when_asked(
    project_dir: Path, key: str, since: float, abort: Callable[[str], None]
) -> None:
    """Run beside a rollout: the first request after ``since`` aborts it (a rollback)."""
    while True:
        who = await asyncio.to_thread(abort_request, project_dir, key, since)
        if who is not None:
            abort(f"rolled back by {who}")
            return
        await asyncio.sleep(POLL_S)


@contextlib.asynccontextmanager
async def preempting(
    spec: ReleaseSpec,
    project_dir: Path,
    who: str,
    *,
    told: Callable[[str], None] = lambda text: None,
    wait: float = WAIT_S,
) -> AsyncIterator[Handle]:
    """The router's handle like ``control.locked``, taking it from a release in progress."""
    key = key_of(spec.router)
    lock = RouterLock(project_dir, key)
    try:
        lock.acquire()
    except ReleaseLocked as held:
        await _take_over(lock, project_dir, key, who, str(held), told, wait)
    async with holding(spec, project_dir, lock) as handle:
        yield handle


async def _take_over(
    lock: RouterLock,
    project_dir: Path,
    key: str,
    who: str,
    held: str,
    told: Callable[[str], None],
    wait: float,
) -> None:
    holder = held.split("(", 1)[-1].split(")", 1)[0] if "(" in held else "another cdtui"
    ask_to_abort(project_dir, key, who)
    told(f"{holder} drives a release: asked it to abort and give all traffic back to live")
    began = time.monotonic()
    try:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                lock.acquire()
            except ReleaseLocked:
                if time.monotonic() - began > wait:
                    pid = holder.split()[1] if holder.startswith("pid ") else "PID"
                    raise ReleaseLocked(
                        f"{holder} was asked to abort {wait:g}s ago and still holds the router: "
                        f"it does not answer; end it (kill {pid}) and roll back again"
                    ) from None
                continue
            told(f"{holder} gave up the router after {time.monotonic() - began:.1f}s")
            return
    finally:
        clear_request(project_dir, key)
