"""One request relayed to the colour it was given, and its response relayed back, streaming.

Failures before the response starts become a short 502/504 from the router; after it starts, the
client connection is closed (the only honest signal left). A pooled connection that turns out
stale before any response byte is retried once on a fresh one when the request can be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from cdtui.release.routers.balancer import set_cookie_header, without_sticky
from cdtui.release.routers.http1 import (
    SMALL_BODY,
    Framing,
    HttpError,
    Message,
    ReadFailed,
    WriteFailed,
    answer,
    copy_body,
    end_to_end,
    parse_head,
    read_exactly,
    read_head,
    response_framing,
    serialize,
)
from cdtui.release.routers.upstream import Backend, Connection, UpstreamUnreachable

COLOUR_HEADER = "X-Cdtui-Colour"
_REWRITTEN = frozenset({"x-forwarded-for"})
_HOST = frozenset({"host"})
_COOKIE = frozenset({"cookie"})


class Owner(Protocol):
    """What an exchange needs from its proxy."""

    stopping: bool
    sticky: bool
    response_timeout: float

    def count_error(self, backend: Backend, reason: str) -> None: ...


class _Retry(Exception):
    """A reused pooled connection failed before any response byte: try a fresh one once."""


class _ClientBodyFailed(Exception):
    """The client's upload broke or was malformed while it was being sent on."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class Exchange:
    owner: Owner
    request: Message
    framing: Framing
    length: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_ip: str
    backend: Backend
    set_cookie: bool
    waiting_since: float = 0.0
    timed_out: bool = False
    conn: Connection | None = None

    def expire(self) -> None:
        """Called by the proxy's sweeper: the backend took too long to start its response."""
        self.timed_out = True
        if self.conn is not None:
            self.conn.close()

    async def run(self) -> bool:
        """Relay request and response; True when the client connection stays open."""
        head = self._upstream_head()
        small = self.framing is Framing.LENGTH and self.length <= SMALL_BODY
        if small and not self.request.get("expect"):
            head += await read_exactly(self.reader, self.length)  # buffered: safe to replay
            self.framing = Framing.NONE
        keep = self.request.wants_keep_alive()
        for attempt in (1, 2):
            try:
                conn, reused = await self.backend.acquire()
            except UpstreamUnreachable as exc:
                return await self._fail(502, str(exc), keep and self.framing is Framing.NONE)
            try:
                return await self._over(conn, head, keep, may_retry=reused and attempt == 1)
            except _Retry:
                continue
        return await self._fail(502, "connection lost", False)

    async def _over(self, conn: Connection, head: bytes, keep: bool, *, may_retry: bool) -> bool:
        """Send on one upstream connection and relay the response; conn is released or closed."""
        self.conn = conn
        conn.writer.write(head)
        body: asyncio.Task[None] | None = None
        if self.framing is not Framing.NONE:
            body = asyncio.create_task(
                copy_body(self.reader, conn.writer, self.framing, self.length, chunked_out=True)
            )
        try:
            response = await self._response_head(conn, body)
        except _ClientBodyFailed as exc:
            conn.close()
            if isinstance(exc.cause, HttpError):
                await answer(self.writer, exc.cause.status, str(exc.cause), close=True)
            return False
        except (ReadFailed, WriteFailed, HttpError, ConnectionError) as exc:
            conn.close()
            if body is not None:
                body.cancel()
                with contextlib.suppress(BaseException):
                    await body
            elif may_retry and isinstance(exc, ReadFailed) and not self.timed_out:
                raise _Retry from None
            status = 504 if self.timed_out else 502
            timeout = self.owner.response_timeout
            reason = f"no response within {timeout:g}s" if status == 504 else str(exc)
            return await self._fail(status, reason, keep and body is None)
        return await self._relay(conn, response, body, keep)

    async def _response_head(self, conn: Connection, body: asyncio.Task[None] | None) -> Message:
        """The final response head; 1xx interim heads (100 Continue) go straight to the client."""
        while True:
            raw = await self._next_head(conn, body)
            if raw is None:
                raise ReadFailed("the backend closed the connection without a response")
            response = parse_head(raw, request=False)
            if response.status >= 200:
                return response
            if response.status == 101:
                raise HttpError(502, "the backend switched protocols; upgrades are not proxied")
            self.writer.write(raw)

    async def _next_head(self, conn: Connection, body: asyncio.Task[None] | None) -> bytes | None:
        """The next response head; while an upload is still going, its failure ends the wait.

        The response timeout (enforced by the proxy's sweeper, no timer per request) starts once
        the upload is done: slow uploads are not slow backends.
        """
        if body is None or body.done():
            self.waiting_since = time.monotonic()
            try:
                return await read_head(conn.reader)
            finally:
                self.waiting_since = 0.0
        head_task = asyncio.ensure_future(read_head(conn.reader))
        await asyncio.wait({head_task, body}, return_when=asyncio.FIRST_COMPLETED)
        if head_task.done():
            return head_task.result()
        if isinstance(exc := body.exception(), ReadFailed | HttpError):
            head_task.cancel()
            raise _ClientBodyFailed(exc)
        self.waiting_since = time.monotonic()
        try:
            return await head_task
        finally:
            self.waiting_since = 0.0
            head_task.cancel()

    async def _relay(
        self, conn: Connection, response: Message, body: asyncio.Task[None] | None, keep: bool
    ) -> bool:
        method, _, version = self.request.start
        kind, length = response_framing(method, response)
        http11 = version == "HTTP/1.1"
        delimited_by_close = kind in (Framing.CHUNKED, Framing.CLOSE) and not http11
        keep = keep and not self.owner.stopping and not delimited_by_close
        headers = end_to_end(response)
        if kind in (Framing.CHUNKED, Framing.CLOSE):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            if http11:
                headers.append(("Transfer-Encoding", "chunked"))
        headers.append((COLOUR_HEADER, self.backend.colour))
        if self.set_cookie:
            headers.append(set_cookie_header(self.backend.colour))
        if not keep:
            headers.append(("Connection", "close"))
        elif not http11:
            headers.append(("Connection", "keep-alive"))
        out = serialize(f"HTTP/1.1 {response.start[1]} {response.start[2]}", headers)
        if kind is Framing.LENGTH and length <= SMALL_BODY:
            try:
                out += await read_exactly(conn.reader, length)
            except ReadFailed as exc:  # nothing sent yet: the client can still get a 502
                conn.close()
                if body is not None:
                    body.cancel()
                return await self._fail(502, str(exc), keep and body is None)
            kind = Framing.NONE
        try:
            self.writer.write(out)
            await copy_body(conn.reader, self.writer, kind, length, chunked_out=http11)
        except (ReadFailed, HttpError) as exc:  # the backend broke mid-response
            conn.close()
            self.owner.count_error(self.backend, str(exc))
            return False
        except WriteFailed:  # the client went away
            conn.close()
            return False
        reusable = response.wants_keep_alive() and kind is not Framing.CLOSE
        if body is not None and (not body.done() or body.exception() is not None):
            body.cancel()  # answered before the upload ended: the rest of it is unread
            keep = reusable = False
        if reusable:
            self.backend.release(conn)
        else:
            conn.close()
        return keep

    async def _fail(self, status: int, reason: str, keep: bool) -> bool:
        colour = self.backend.colour
        self.owner.count_error(self.backend, reason)
        text = f"cdtui router: {colour} backend {self.backend.netloc}: {reason}"
        await answer(self.writer, status, text, close=not keep, extra=((COLOUR_HEADER, colour),))
        return keep

    def _upstream_head(self) -> bytes:
        request = self.request
        method, target, _ = request.start
        absolute = target.startswith(("http://", "https://"))  # absolute-form, as sent to a proxy
        strip_cookie = self.owner.sticky and "cookie" in request.index
        also = (
            _REWRITTEN
            | (_HOST if absolute else frozenset())
            | (_COOKIE if strip_cookie else frozenset())
        )
        headers = end_to_end(request, also)
        if strip_cookie:
            for name, lower in zip(request.headers, request.names, strict=True):
                if lower == "cookie" and (value := without_sticky(name[1])):
                    headers.append((name[0], value))
        if absolute:
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers.append(("Host", parts.netloc))
        elif "host" not in request.index:
            headers.append(("Host", self.backend.netloc))
        if target.startswith("/"):
            target = self.backend.prefix + target
        forwarded = request.get("x-forwarded-for")
        headers.append(
            ("X-Forwarded-For", f"{forwarded}, {self.client_ip}" if forwarded else self.client_ip)
        )
        if self.framing is Framing.CHUNKED:
            headers.append(("Transfer-Encoding", "chunked"))
        return serialize(f"{method} {target} HTTP/1.1", headers)
