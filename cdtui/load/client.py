"""A small HTTP/1.1 client for load: kept-alive connections, one request in flight on each,
responses framed by Content-Length, chunked encoding or the connection's close.

A general client (httpx) does far more a request than a load generator can afford, so this is
a bare ``asyncio.Protocol`` (``connection.py``) with its own framing, and a per-origin pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from cdtui.load.connection import Connection
from cdtui.load.errors import ERROR_KINDS, RequestError, describe_error, error_kind

__all__ = ["ERROR_KINDS", "Origin", "Pool", "RequestError", "describe_error", "error_kind"]


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Pool:
    """Kept-alive connections to one origin, at most ``limit`` open; callers past it queue."""

    def __init__(self, origin: Origin, limit: int, connect_timeout: float) -> None:
        self.origin = origin
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.idle: deque[Connection] = deque()
        self.open = 0
        self.opened = 0  # connections made over the pool's life
        self._waiting: deque[asyncio.Future[None]] = deque()

    def _idle_connection(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable:
                return conn
            self.open -= 1
        return None

    async def _acquire(self) -> Connection:
        while True:
            conn = self._idle_connection()
            if conn is not None:
                return conn
            if self.open < self.limit:
                self.open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self.open -= 1
                    self._wake()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            await waiter

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(Connection, self.origin.host, self.origin.port),
            self.connect_timeout,
        )
        self.opened += 1
        return conn

    def _release(self, conn: Connection) -> None:
        if conn.usable:
            self.idle.append(conn)
        else:
            conn.close()
            self.open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def send(self, payload: bytes, timeout: float) -> int:
        """The answer's status code; raises RequestError, OSError or TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._idle_connection() or await asyncio.wait_for(self._acquire(), timeout)
        waiter = conn.request(payload)
        timer = loop.call_at(deadline, _expire, conn, waiter)
        try:
            return await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
            self._release(conn)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
        self.open = 0


def _expire(conn: Connection, waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer within the timeout"))
        conn.waiter = None
        conn.close()
