"""What bounds concurrency beyond the stage graph: CPU units (``--jobs``, ``resources: {cpu: N}``)
and named locks (``lock: db``) that keep two stages sharing a resource from overlapping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable


class Capacity:
    """A weighted semaphore: a stage takes ``cpu`` units of ``total`` while it runs.

    A stage asking for more than there is takes all of it (it runs alone rather than never).
    Waiters are served in arrival order, so a big stage is not starved by small ones.
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.free = self.total
        self._turns: list[asyncio.Future[None]] = []
        self._cond = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def take(self, units: int = 1) -> AsyncIterator[None]:
        units = min(max(1, units), self.total)
        async with self._cond:
            turn = asyncio.get_running_loop().create_future()
            self._turns.append(turn)
            try:
                await self._cond.wait_for(lambda: self._turns[0] is turn and self.free >= units)
            finally:
                self._turns.remove(turn)
                self._cond.notify_all()
            self.free -= units
        try:
            yield
        finally:
            async with self._cond:
                self.free += units
                self._cond.notify_all()


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
