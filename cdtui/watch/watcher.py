"""File changes under a project, in debounced batches of the paths that count.

watchfiles (inotify on Linux) does the watching; where inotify cannot be had (no inotify, its
watch limit reached) or is asked not to be used (``--poll``, ``watch: poll:``, network file
systems), ``poller`` stats the tree instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cdtui.watch.ignore import IgnoreRules

POLL_ENV = "WATCHFILES_FORCE_POLLING"
POLL_INTERVAL = 0.3
MAX_WAIT_FACTOR = 10
"""A burst of saves is grouped for at most this many quiet periods before it is reported."""


class Watcher:
    """``async for paths in Watcher(...).batches()``: each a sorted list of relative paths.

    ``debounce`` is the quiet period (seconds) a burst of saves must end with before it is
    reported, as watchexec's ``--debounce`` is."""

    def __init__(
        self,
        rules: IgnoreRules,
        *,
        debounce: float = 0.1,
        poll: bool | None = None,
        stop: asyncio.Event | None = None,
        say: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.rules = rules
        self.debounce = debounce
        self.poll = bool(os.environ.get(POLL_ENV)) if poll is None else poll
        self.stop = stop or asyncio.Event()
        self.say = say

    def _wanted(self, _change: object, path: str) -> bool:
        return not self.rules.ignores(path)

    async def batches(self) -> AsyncIterator[list[str]]:
        if not self.poll:
            try:
                async for batch in self._events():
                    yield self._noticed(batch)
                return
            except OSError as error:  # no inotify, or out of inotify watches
                self.say(f"file events unavailable ({error.strerror or error}): polling instead")
                self.poll = True
        from cdtui.watch.poller import poll_batches

        async for batch in poll_batches(
            self.rules, interval=POLL_INTERVAL, debounce=self.debounce, stop=self.stop
        ):
            yield self._noticed(batch)

    def _noticed(self, batch: list[str]) -> list[str]:
        """A changed ``.gitignore`` changes what counts from the next batch on."""
        if any(Path(p).name == ".gitignore" for p in batch):
            self.rules.reload()
        return batch

    async def _events(self) -> AsyncIterator[list[str]]:
        from watchfiles import awatch

        step = max(1, int(self.debounce * 1000))
        async for changes in awatch(
            self.rules.root,
            watch_filter=self._wanted,
            debounce=max(step * MAX_WAIT_FACTOR, 1000),
            step=step,
            stop_event=self.stop,
            force_polling=False,
        ):
            kept = self.rules.filter(_lasting(changes))
            if kept:
                yield kept


def _lasting(changes: set[tuple[object, str]]) -> set[str]:
    """Changed paths without the ones created and gone within the batch: an editor's or sed's
    temporary file, renamed over the real one, is not what the operator saved."""
    from watchfiles import Change

    added = {path for change, path in changes if change == Change.added}
    return {path for _change, path in changes if path not in added or os.path.lexists(path)}
