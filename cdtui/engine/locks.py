"""What bounds concurrency beyond the stage graph: CPU units (``--jobs``, ``resources: {cpu: N}``)
and named locks (``lock: db``) that keep two stages sharing a resource from overlapping."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable


class Capacity:
    """A weighted semaphore: a stage takes ``cpu`` units of ``total`` while it runs.

    A stage asking for more than there is takes all of it (it runs alone rather than never).
    Waiters are served in arrival order, so a big stage is not starved by small ones; a release
    wakes only the waiters it lets in (a 100-leg matrix queues 100 waiters: waking all of them
    on every release cost more than the legs' own scheduling).
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.free = self.total
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def take(self, units: int = 1) -> _Units:
        """``async with capacity.take(n)``: n units held inside (a class, not a generator: it
        is entered once per stage)."""
        return _Units(self, min(max(1, units), self.total))

    def _give_back(self, units: int) -> None:
        self.free += units
        self._wake()

    async def _acquire(self, units: int) -> None:
        if not self._waiters and self.free >= units:
            self.free -= units
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (units, turn)
        self._waiters.append(entry)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted, then cancelled: give it back
                self.free += units
            elif entry in self._waiters:
                self._waiters.remove(entry)
            self._wake()
            raise

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            units, turn = self._waiters.popleft()
            if turn.done():
                continue
            self.free -= units
            turn.set_result(None)


class _Units:
    __slots__ = ("_capacity", "_units")

    def __init__(self, capacity: Capacity, units: int) -> None:
        self._capacity, self._units = capacity, units

    async def __aenter__(self) -> None:
        await self._capacity._acquire(self._units)

    async def __aexit__(self, *exc: object) -> None:
        self._capacity._give_back(self._units)


class NamedLocks:
    """One asyncio lock per name for the run, taken in sorted order (no deadlock between
    stages that hold several)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def busy(self, names: Iterable[str]) -> list[str]:
        return [n for n in sorted(set(names)) if n in self._locks and self._locks[n].locked()]

    @contextlib.asynccontextmanager
    async def hold(self, names: Iterable[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for name in sorted(set(names)):
                await stack.enter_async_context(self._locks.setdefault(name, asyncio.Lock()))
            yield
