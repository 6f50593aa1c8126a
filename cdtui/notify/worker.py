"""One sink's delivery loop: take the outbox past its cursor, filter, dedupe, clamp, pace, send.

The notifier hands each event it appends to the workers in memory (``offer``) with the byte
range it took in the log; a worker reads the log from disk only when memory does not continue
from its offset: after a restart (the backlog), after its queue overflowed, or for lines other
processes appended. The cursor is saved at most every ``SAVE_EVERY`` seconds and when the worker
stops: a crash redelivers at most that much, which at-least-once delivery already allows (every
payload has an ``id`` receivers dedupe on); nothing appended can be lost either way.

A failure worth retrying waits (exponential backoff with jitter, or the ``Retry-After`` it was
told) and tries the same batch again, so what was queued goes out in order once the sink is back;
a failure for good drops the batch (counted). Nothing here can reach the run: the run only
appended to the log. ``SinkState`` is the typed snapshot the console shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from cdtui.engine.masking import SecretMasker
from cdtui.notify.base import RetryLater, Sink, SinkError
from cdtui.notify.filters import EventFilter
from cdtui.notify.outbox import Cursor, EventLog
from cdtui.notify.payload import Payload, clamp

TEST_KIND = "NotifyTest"  # ``cdtui notify test``: sent directly, never from the log
POLL = 0.5  # seconds between looks at the log for what other processes appended
STANDBY_POLL = 2.0  # while another process drains this sink
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 60.0
RETRY_AFTER_MAX = 300.0
SAVE_EVERY = 0.5  # seconds between cursor saves (and on stop)
MEMORY_QUEUE = 10_000  # events held in memory per sink; past that the log is read back
BUG_ATTEMPTS = 5  # an unexpected exception is retried this often, then the batch is dropped


@dataclass(frozen=True, slots=True)
class SinkState:
    """What the console shows per sink; ``state`` is ok, retrying, standby (another process
    delivers), failed (could not start: ``last_error`` says why) or stopped."""

    name: str
    kind: str
    state: str
    queued: int
    delivered: int
    dropped: int
    deduped: int
    next_try: float | None  # wall-clock time of the next attempt while retrying
    last_error: str


class TokenBucket:
    """``rate`` sends a second on average with up to ``burst`` at once (Slack: 1/s)."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()

    async def take(self) -> None:
        if not self.rate:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


def backoff(attempt: int) -> float:
    """Exponential with equal jitter: half fixed, half random, so retries never march in step."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1))
    return base / 2 + random.uniform(0, base / 2)


class SinkWorker:
    def __init__(
        self,
        sink: Sink,
        log: EventLog,
        cursor: Cursor,
        accepts: EventFilter,
        masker: SecretMasker,
        dedupe: float,
    ) -> None:
        self.sink, self.log, self.cursor, self.accepts = sink, log, cursor, accepts
        self.masker = masker
        self.dedupe = dedupe
        self.offset = cursor.start_at(log.size())
        self.bucket = TokenBucket(sink.rate, sink.burst)
        self.wake = asyncio.Event()
        self.state = "ok"
        self.delivered = self.dropped = self.deduped = 0
        self.next_try: float | None = None
        self.last_error = ""
        self._seen: OrderedDict[str, float] = OrderedDict()
        self.task: asyncio.Task[None] | None = None
        self.pending: deque[tuple[int, int, Payload]] = deque()  # (start, end, payload)
        self._look = True  # read the log when memory runs dry (at start, after a quiet while)
        self._in_pass = 0  # wanted events of the pass under way not yet handed on
        self._dirty: tuple[int, str] | None = None  # the cursor not yet saved
        self._saved_at = time.monotonic()

    def offer(self, start: int, end: int, payload: Payload) -> None:
        """An event just appended at ``start``..``end`` of the log; a full queue leaves it to
        the log, read back once memory no longer continues from the worker's offset.

        An event the sink does not want, right at an idle worker's offset, only moves the
        offset (the cursor is saved when due): a run of 200 quiet stages wakes no worker."""
        if start == self.offset and not self.pending and not self.wanted(payload):
            self.offset = end
            self._dirty = (end, str(payload.get("id", "")))
            return
        if len(self.pending) < MEMORY_QUEUE:
            self.pending.append((start, end, payload))
        else:
            self._look = True
        self.wake.set()

    @property
    def queued(self) -> int:
        """Events waiting for this sink that this process knows of (the pass under way and
        the memory queue; a backlog on disk counts once a pass reads it)."""
        waiting = (p for s, _, p in self.pending if s >= self.offset)
        return self._in_pass + sum(1 for p in waiting if self.wanted(p))

    def snapshot(self) -> SinkState:
        return SinkState(
            self.sink.name,
            self.sink.kind,
            self.state,
            self.queued,
            self.delivered,
            self.dropped,
            self.deduped,
            self.next_try,
            self.last_error,
        )

    @property
    def settled(self) -> bool:
        """Nothing left that this process could deliver now."""
        return self.state != "ok" or self.offset >= self.log.size()

    async def run(self) -> None:
        try:
            while True:
                if not self.cursor.try_lock():
                    self.state = "standby"
                    self.pending.clear()  # the other process delivers these; the log keeps them
                    self._look = True
                    await self._sleep(STANDBY_POLL)
                    continue
                if self.state == "standby":  # another process moved the cursor meanwhile
                    self.offset = self.cursor.start_at(self.log.size())
                    self.state = "ok"
                if not await self._pass():
                    if not await self._sleep(self._idle_for()):
                        self._look = True  # a quiet while: see what others appended
                    elif self.sink.linger:
                        await asyncio.sleep(self.sink.linger)  # let a few more come along
                    self._save(due_only=True)
        finally:
            self.state = "stopped"
            self.flush()
            self.cursor.unlock()

    def _idle_for(self) -> float:
        """Until the next look at the log, or until an unsaved cursor is due."""
        if self._dirty is None:
            return POLL
        return max(0.0, min(POLL, self._saved_at + SAVE_EVERY - time.monotonic()))

    def flush(self) -> None:
        """Save the cursor now if it moved (on stop; the lock is still ours)."""
        self._save(due_only=False)

    def _save(self, due_only: bool) -> None:
        if self._dirty is None or not self.cursor.locked:
            return
        if due_only and time.monotonic() - self._saved_at < SAVE_EVERY:
            return
        offset, last_id = self._dirty
        self._dirty = None
        self._saved_at = time.monotonic()
        self.cursor.save(offset, last_id)

    def _entries(self) -> list[tuple[int, Payload]]:
        """What follows the offset: from memory when it continues from there, else the log."""
        pending = self.pending
        while pending and pending[0][0] < self.offset:  # already read back from the log
            pending.popleft()
        if pending and pending[0][0] == self.offset:
            taken: list[tuple[int, Payload]] = []
            position = self.offset
            while pending and pending[0][0] == position:
                _, position, payload = pending.popleft()
                taken.append((position, payload))
            return taken
        if not (self._look or pending):  # (memory was all there was: no stat an event)
            return []
        self._look = False
        if self.log.size() <= self.offset:
            return []
        return self.log.read(self.offset)

    async def _sleep(self, seconds: float) -> bool:
        """Until woken (True) or ``seconds`` passed (False)."""
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # wait_for can swallow a cancel on 3.11
                await self.wake.wait()
                return True
        return False

    async def _pass(self) -> bool:
        """Deliver what the log holds past the cursor; False when there was nothing."""
        entries = self._entries()
        if not entries:
            return False
        now = time.time()
        self._in_pass = sum(1 for _, p in entries if self.wanted(p))
        batch: list[Payload] = []
        batch_end = line_start = self.offset
        limit = self.sink.max_bytes
        for end, payload in entries:
            line, line_start = end - line_start, end  # its encoded size and then some
            if not self.wanted(payload):
                if not batch:
                    batch_end = end
            elif self._duplicate(payload, now):
                self._in_pass -= 1
                if not batch:
                    batch_end = end
            else:
                fits = limit is None or line <= limit  # (no encode an event to learn that)
                batch.append(payload if fits else clamp(payload, limit))
                batch_end = end
                if len(batch) >= self.sink.batch:
                    await self._deliver(batch, batch_end)
                    batch = []
        if batch:
            await self._deliver(batch, batch_end)
        last = entries[-1]
        if last[0] > self.offset:
            self._advance(last[0], str(last[1].get("id", "")))
        self._in_pass = 0
        return True

    def wanted(self, payload: Payload) -> bool:
        kind = payload["kind"]
        return not kind.startswith("_") and kind != TEST_KIND and self.accepts(payload)

    def _duplicate(self, payload: Payload, now: float) -> bool:
        if self.dedupe <= 0:
            return False
        while self._seen and next(iter(self._seen.values())) < now - self.dedupe:
            self._seen.popitem(last=False)
        body = {k: v for k, v in payload.items() if k not in ("id", "at")}
        key = hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        if key in self._seen:
            self.deduped += 1
            return True
        self._seen[key] = now
        return False

    def _advance(self, offset: int, last_id: str) -> None:
        self.offset = offset
        self._dirty = (offset, last_id)
        self._save(due_only=True)

    async def _deliver(self, batch: list[Payload], end: int) -> None:
        attempt = 0
        while True:
            attempt += 1
            await self.bucket.take()
            try:
                await self.sink.send(batch)
            except asyncio.CancelledError:
                raise
            except RetryLater as error:
                delay = backoff(attempt)
                if error.retry_after is not None:
                    delay = min(RETRY_AFTER_MAX, max(0.0, error.retry_after)) + random.uniform(
                        0, 0.1
                    )
                await self._wait_retry(str(error), delay)
                continue
            except SinkError as error:
                self._fail(batch, str(error))
            except Exception as error:  # a sink's bug: retried a little, then dropped
                if attempt < BUG_ATTEMPTS:
                    await self._wait_retry(f"{self.sink.name}: {error!r}", backoff(attempt))
                    continue
                self._fail(batch, f"{self.sink.name}: {error!r}")
            else:
                self.delivered += len(batch)
                self.last_error = ""
            self.state, self.next_try = "ok", None
            self._in_pass = max(0, self._in_pass - len(batch))
            self._advance(end, str(batch[-1].get("id", "")))
            return

    async def _wait_retry(self, text: str, delay: float) -> None:
        self.state = "retrying"
        self.last_error = self.masker.mask_text(text)
        self.next_try = time.time() + delay
        await asyncio.sleep(delay)

    def _fail(self, batch: list[Payload], text: str) -> None:
        self.dropped += len(batch)
        self.last_error = self.masker.mask_text(text)
