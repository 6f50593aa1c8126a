"""Polling, where file events cannot be had: stat the tree on a timer, compare.

watchfiles' own poller compares whole-second modification times, so a file saved twice in one
second is seen once (the field notes: "forced polling missed rapid writes"). This compares
nanosecond times and sizes, and prunes ignored directories so ``.git`` and ``.venv`` cost nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from cdtui.watch.ignore import IgnoreRules

Snapshot = dict[str, tuple[int, int]]


def snapshot(rules: IgnoreRules) -> Snapshot:
    """(mtime_ns, size) of every file that counts, by absolute path."""
    found: Snapshot = {}
    root = str(rules.root)
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not rules.ignores(os.path.join(current, d))]
        for name in files:
            path = os.path.join(current, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    """Paths added, removed or modified between two snapshots."""
    paths = {p for p, stamp in after.items() if before.get(p) != stamp}
    return paths | (before.keys() - after.keys())


async def poll_batches(
    rules: IgnoreRules, *, interval: float, debounce: float, stop: asyncio.Event
) -> AsyncIterator[list[str]]:
    """Batches of changed paths (relative), a burst grouped until a quiet ``debounce``."""
    last = await asyncio.to_thread(snapshot, rules)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        now = await asyncio.to_thread(snapshot, rules)
        paths = changed(last, now)
        while paths:
            await asyncio.sleep(debounce)
            later = await asyncio.to_thread(snapshot, rules)
            more = changed(now, later)
            now = later
            if not more:
                break
            paths |= more
        last = now
        kept = rules.filter(paths)
        if kept:
            yield kept
