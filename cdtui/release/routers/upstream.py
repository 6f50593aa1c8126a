"""One colour's backend: its address and a small pool of kept-alive connections to it.

Idle connections are dropped well before typical backend keep-alive timeouts (Node's is 5 s), so the
proxy rarely sends a request into a connection the backend is closing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cdtui.release.routers.http1 import MAX_HEAD, no_delay

POOL_SIZE = 64
POOL_IDLE = 4.0
CONNECT_TIMEOUT = 5.0


class UpstreamUnreachable(Exception):
    """The backend did not accept a connection."""


@dataclass(eq=False)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float = field(default_factory=time.monotonic)

    def usable(self) -> bool:
        """Open, and not holding bytes nobody asked for (which means the backend gave up on it)."""
        return (
            not self.writer.transport.is_closing()
            and not self.reader.at_eof()
            and not self.reader._buffer  # unsolicited bytes: no public way to peek
        )

    def close(self) -> None:
        self.writer.transport.abort()


class Backend:
    """Where one colour answers; base URL paths (``http://host:port/app``) prefix every request."""

    def __init__(self, colour: str, url: str) -> None:
        parts = urlsplit(url)
        self.colour = colour
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.prefix = parts.path.rstrip("/")
        self._idle: deque[Connection] = deque()
        self.opened = 0

    async def acquire(self) -> tuple[Connection, bool]:
        """A connection and whether it was reused (a reused one may turn out stale)."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.last_used < POOL_IDLE and conn.usable():
                return conn, True
            conn.close()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
        except TimeoutError:
            raise UpstreamUnreachable(f"no answer within {CONNECT_TIMEOUT:g}s") from None
        except OSError as exc:
            raise UpstreamUnreachable(exc.strerror or str(exc)) from None
        no_delay(writer)
        self.opened += 1
        return Connection(reader, writer), False

    def release(self, conn: Connection) -> None:
        """Back to the pool for the next request, or closed when the pool is full."""
        if len(self._idle) < POOL_SIZE and conn.usable():
            conn.last_used = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    def sweep(self) -> None:
        """Close connections idle too long (oldest are at the left)."""
        limit = time.monotonic() - POOL_IDLE
        while self._idle and self._idle[0].last_used < limit:
            self._idle.popleft().close()

    def close(self) -> None:
        while self._idle:
            self._idle.popleft().close()

    @property
    def idle(self) -> int:
        return len(self._idle)
