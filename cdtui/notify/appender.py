"""The event log written in batches: a few writes a second, not one an event.

Measured in a run of 200 quick stages (``bench/notify_overhead.py``): one ``O_APPEND`` write a
line cost 20 us at the median, 150 us at p90 and up to 3 ms (ext4 journals the file's new size
and mtime on every write, while the store and the stages' logs write too), and encoding each
event as it came cost ~35 us more than encoding the same events together (a cold interpreter
between two events of a busy run): together, most of what notifications cost a run. Events now
wait on the loop at most ``BATCH`` seconds, then are encoded and written in one write (one
``O_APPEND`` write lands whole: other processes appending never split it) and handed to the
workers. The log still holds every event before any sink sees it; what a kill -9 can take is the
last ``BATCH`` of events, which the run store's own writer thread holds as long. Without a
running loop (a command, a test) each event is written at once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from cdtui.notify.outbox import EventLog
from cdtui.notify.payload import Payload

Written = list[tuple[int, int, Payload]]  # (start, end, payload) of each line, in order
Encoder = Callable[[Any], tuple[Payload, bytes]]  # a queued item -> its payload and log line
BATCH = 0.01  # seconds an event may wait for the ones right behind it
MAX_QUEUE = 1000  # events held before a write regardless


_LIVE: weakref.WeakSet[Appender] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for appender in list(_LIVE):
        with contextlib.suppress(Exception):  # (exiting: the log has what it could take)
            appender.flush(hand_on=False)


class Appender:
    """``put`` an item; ``encode`` turns items into lines; ``written`` hears what was written."""

    def __init__(self, log: EventLog, encode: Encoder, written: Callable[[Written], None]) -> None:
        self.log, self.encode, self.written = log, encode, written
        self._queue: list[Any] = []
        self._timer: asyncio.TimerHandle | None = None
        _LIVE.add(self)  # a loop that ends before the timer fires must not lose its events

    def put(self, item: Any) -> None:
        self._queue.append(item)
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(BATCH, self.flush)
        elif len(self._queue) >= MAX_QUEUE:
            self.flush()

    def flush(self, hand_on: bool = True) -> None:
        """Encode and write what is queued now, then hand it on (to the workers)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queue:
            return
        items, self._queue = self._queue, []
        encoded = [self.encode(item) for item in items]
        start, _ = self.log.append_lines([line for _, line in encoded])
        lines: Written = []
        for payload, line in encoded:
            lines.append((start, start + len(line) + 1, payload))
            start += len(line) + 1
        if hand_on:
            self.written(lines)
