"""One event bus per project session: runs, gates, releases, alerts and notices all travel on it.

Synchronous subscribers (the store, the headless renderer, the console's loop) see every event
as it is fired, in order. Asynchronous subscribers (notifiers, monitors) each get a bounded
queue drained by their own task: a slow or failing one never slows a run; what overflows its
queue is counted in ``drops``, and its errors are counted and reported once, never raised into
the run. Modelled on Home Assistant's ``EventBus``: ``emit`` is cheap and synchronous, and every
subscription returns the callable that ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cdtui.engine.events import Event, Notice

SyncSubscriber = Callable[[Event], None]
AsyncSubscriber = Callable[[Event], Awaitable[None]]
Unsubscribe = Callable[[], None]
DEFAULT_QUEUE = 1000


def _name_of(subscriber: object) -> str:
    owner = getattr(subscriber, "__self__", None)
    name = getattr(subscriber, "__qualname__", None) or type(subscriber).__name__
    return f"{type(owner).__name__}.{subscriber.__name__}" if owner is not None else str(name)


@dataclass
class _Sync:
    fn: SyncSubscriber
    kinds: tuple[type[Event], ...] | None
    name: str


@dataclass
class AsyncSubscription:
    """One asynchronous consumer: its queue, what it dropped, what it failed on."""

    fn: AsyncSubscriber
    kinds: tuple[type[Event], ...] | None
    name: str
    maxsize: int
    drops: int = 0
    errors: int = 0
    last_error: str = ""
    delivered: int = 0
    queue: asyncio.Queue[Event] | None = None
    task: asyncio.Task[None] | None = None
    pending: list[Event] = field(default_factory=list)  # fired before a loop was running


class EventBus:
    """Facts fired once; each consumer filters what it wants (``kinds``)."""

    def __init__(self) -> None:
        # Tuples, replaced (never mutated) on (un)subscribe: emit is the hot path (every chunk of
        # output) and iterates them without a copy, even when a subscriber unsubscribes mid-emit.
        self._sync: tuple[_Sync, ...] = ()
        self._async: tuple[AsyncSubscription, ...] = ()
        self._reporting = False

    # -- subscribing ------------------------------------------------------------------------
    def subscribe(
        self, fn: SyncSubscriber, kinds: tuple[type[Event], ...] | None = None
    ) -> Unsubscribe:
        """``fn(event)`` for every event (of ``kinds``), in order, on the emitting thread."""
        entry = _Sync(fn, kinds, _name_of(fn))
        self._sync = (*self._sync, entry)

        def unsubscribe() -> None:
            self._sync = tuple(e for e in self._sync if e is not entry)

        return unsubscribe

    def subscribe_async(
        self,
        fn: AsyncSubscriber,
        kinds: tuple[type[Event], ...] | None = None,
        *,
        maxsize: int = DEFAULT_QUEUE,
        name: str = "",
    ) -> AsyncSubscription:
        """``await fn(event)`` from its own task behind a queue of ``maxsize``; see ``drops``."""
        entry = AsyncSubscription(fn, kinds, name or _name_of(fn), max(1, maxsize))
        self._async = (*self._async, entry)
        return entry

    def unsubscribe(self, entry: AsyncSubscription) -> None:
        self._async = tuple(e for e in self._async if e is not entry)
        if entry.task is not None:
            entry.task.cancel()

    @property
    def subscriptions(self) -> tuple[AsyncSubscription, ...]:
        return self._async

    # -- firing ----------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Deliver to every synchronous subscriber now and enqueue for the asynchronous ones."""
        for entry in self._sync:
            if entry.kinds is not None and not isinstance(event, entry.kinds):
                continue
            try:
                entry.fn(event)
            except Exception as error:  # a broken consumer must not lose the run
                self._report(event, f"{entry.name} failed: {error!r}")
        for sub in self._async:
            if sub.kinds is None or isinstance(event, sub.kinds):
                self._enqueue(sub, event)

    def _report(self, event: Event, text: str) -> None:
        if isinstance(event, Notice) or self._reporting:
            return
        self._reporting = True
        try:
            self.emit(Notice(event.run_id, time.time(), "error", text))
        finally:
            self._reporting = False

    def _enqueue(self, sub: AsyncSubscription, event: Event) -> None:
        if sub.queue is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop yet: keep (bounded) until one runs
                if len(sub.pending) >= sub.maxsize:
                    sub.drops += 1
                else:
                    sub.pending.append(event)
                return
            sub.queue = asyncio.Queue(sub.maxsize)
            for early in sub.pending:
                sub.queue.put_nowait(early)
            sub.pending.clear()
            sub.task = loop.create_task(self._drain(sub), name=f"bus:{sub.name}")
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            sub.drops += 1

    async def _drain(self, sub: AsyncSubscription) -> None:
        assert sub.queue is not None
        while True:
            event = await sub.queue.get()
            try:
                await sub.fn(event)
                sub.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # counted and told once per kind of error
                sub.errors += 1
                text = f"{sub.name} failed: {error!r}"
                if text != sub.last_error:
                    sub.last_error = text
                    self._report(event, text)
            finally:
                sub.queue.task_done()

    async def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every asynchronous queue is empty (or ``timeout``); True when it is."""
        queues = [s.queue for s in self._async if s.queue is not None]
        if not queues:
            return True
        joined = asyncio.gather(*(q.join() for q in queues))
        try:
            await asyncio.wait_for(joined, timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 1.0) -> None:
        """Give queued events ``timeout`` seconds to be delivered, then end every task."""
        await self.drain(timeout)
        for sub in self._async:
            if sub.task is not None:
                sub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sub.task
                sub.task = None
                sub.queue = None
