"""A small HTTP/1.1 client for load: kept-alive connections, one request in flight on each,
responses framed by Content-Length, chunked encoding or the connection's close.

A general client (httpx) does far more a request than a load generator can afford. Here a
request is a callback: ``Pool.start`` writes it on an idle connection (or queues it), the
connection's ``Protocol`` parses the answer and the pool calls back; no task or future per
request, and timeouts are swept every ``SWEEP`` seconds instead of a timer each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cdtui.load.connection import Connection
from cdtui.load.errors import ERROR_KINDS, RequestError, describe_error, error_kind

__all__ = ["ERROR_KINDS", "Origin", "Pool", "RequestError", "describe_error", "error_kind"]

SWEEP = 0.05
"""Seconds between looks for requests past their timeout."""
QUEUE_MAX = 10_000
"""Requests that may wait for a free connection; past it a request is not sent at all."""

Done = Callable[..., None]
"""``done(status, error, *args)``: status None when error is set."""


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Pool:
    """Kept-alive connections to one origin, at most ``limit`` open; requests past it queue."""

    def __init__(self, origin: Origin, limit: int, timeout: float) -> None:
        self.origin = origin
        self.limit = limit
        self.timeout = timeout
        self.idle: list[Connection] = []
        self.open = 0
        self.opened = 0  # connections made over the pool's life
        self.in_flight = 0  # started, not yet called back
        self.queued = 0  # requests that had to wait for a free connection
        self._conns: set[Connection] = set()  # every open one, for the sweep
        self._queued: deque[tuple] = deque()  # (payload, done, args, deadline)
        self._sweeper: asyncio.TimerHandle | None = None
        self._drained: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- requests ---------------------------------------------------------------------------
    def start(
        self, payload: bytes, done: Done, *args: object, timeout: float | None = None
    ) -> bool:
        """Send ``payload``; ``done(status, error, *args)`` is called later, never from here.
        False: ``QUEUE_MAX`` requests already wait for a connection, this one is not sent."""
        loop = self._loop or self._bind()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        conn = self._idle_connection()
        if conn is not None:
            self._send(conn, payload, done, args, deadline)
        elif self.open < self.limit:
            self.open += 1
            loop.create_task(self._connect_and_send(payload, done, args, deadline))
        elif len(self._queued) < QUEUE_MAX:
            self.queued += 1
            self._queued.append((payload, done, args, deadline))
        else:
            return False
        self.in_flight += 1
        if self._sweeper is None:
            self._sweeper = loop.call_later(SWEEP, self._sweep)
        return True

    async def send(self, payload: bytes, timeout: float | None = None) -> int:
        """One request awaited: its status; raises its error (tests and one-off probes)."""
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def done(status: int | None, error: BaseException | None) -> None:
            if not answer.done():
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(status or 0)

        self.start(payload, done, timeout=timeout)
        return await answer

    async def drain(self, timeout: float) -> None:
        """Wait until no request is in flight (at most ``timeout``)."""
        if not self.in_flight:
            return
        self._drained = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self.idle.clear()
        self.open = 0
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # -- connections ------------------------------------------------------------------------
    def _bind(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _idle_connection(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable:
                return conn
            self._conns.discard(conn)
            self.open -= 1
        return None

    def _send(self, conn: Connection, payload: bytes, done: Done, args: tuple, deadline: float):
        conn.job = (done, args, deadline)
        conn.send(payload)

    async def _connect_and_send(self, payload: bytes, done: Done, args: tuple, deadline: float):
        loop = self._loop
        assert loop is not None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(self), self.origin.host, self.origin.port
                ),
                max(0.001, deadline - loop.time()),
            )
        except (OSError, TimeoutError) as error:
            self.open -= 1
            self._call(done, args, None, error)
            self._next_queued()
            return
        self.opened += 1
        self._conns.add(conn)
        self._send(conn, payload, done, args, deadline)

    # -- the connection's owner (connection.Owner) ------------------------------------------
    def finished(self, conn: Connection, status: int) -> None:
        job = conn.job
        self._release(conn)
        if job is not None:
            self._call(job[0], job[1], status, None)

    def failed(self, conn: Connection, error: BaseException) -> None:
        job = conn.job
        conn.close()
        self._release(conn)
        if job is not None:
            self._call(job[0], job[1], None, error)

    def _release(self, conn: Connection) -> None:
        """The connection is free: the next queued request takes it, or it waits idle."""
        conn.job = None
        if not conn.usable:
            conn.close()
            self._conns.discard(conn)
            self.open -= 1
            self._next_queued()
            return
        if self._queued:
            payload, done, args, deadline = self._queued.popleft()
            self._send(conn, payload, done, args, deadline)
        else:
            self.idle.append(conn)

    def _next_queued(self) -> None:
        """A connection closed: open one for the next queued request, if any waits."""
        if self._queued and self.open < self.limit and self._loop is not None:
            payload, done, args, deadline = self._queued.popleft()
            self.open += 1
            self._loop.create_task(self._connect_and_send(payload, done, args, deadline))

    def _call(self, done: Done, args: tuple, status: int | None, error: BaseException | None):
        self.in_flight -= 1
        done(status, error, *args)
        if not self.in_flight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _sweep(self) -> None:
        """End every request past its deadline: in flight (its connection closes) or queued."""
        self._sweeper = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        for conn in [c for c in self._conns if c.job is not None and c.job[2] <= now]:
            conn.fail(TimeoutError("no answer within the timeout"))
        while self._queued and self._queued[0][3] <= now:
            _, done, args, _ = self._queued.popleft()
            self._call(done, args, None, TimeoutError("no connection free within the timeout"))
        if self.in_flight:
            self._sweeper = loop.call_later(SWEEP, self._sweep)
