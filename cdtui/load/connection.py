"""One kept-alive HTTP/1.1 connection as a bare ``asyncio.Protocol``: one request in flight,
the answer framed by Content-Length, chunked encoding or the connection's close."""

from __future__ import annotations

import asyncio
import errno
import socket

from cdtui.load.errors import RequestError


class Connection(asyncio.Protocol):
    """One TCP connection; ``request`` writes bytes and resolves with the status code."""

    __slots__ = (
        "_body_left",
        "_buffer",
        "_chunked",
        "_closed",
        "_head_done",
        "_head_only",
        "_keep",
        "_status",
        "_until_close",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self._buffer = bytearray()
        self._closed = False
        self._head_only = False  # a HEAD's answer has headers only, whatever they announce
        self._reset_response()

    def _reset_response(self) -> None:
        self._head_done = False
        self._status = 0
        self._body_left = 0
        self._chunked = False
        self._until_close = False
        self._keep = True

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._until_close and self._head_done and exc is None:
            self._finish()
            return
        self._fail(exc or ConnectionResetError(errno.ECONNRESET, "Connection closed by peer"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self.waiter is None:
            if buffer:  # bytes nobody asked for: the connection cannot be trusted
                self.close()
            return
        try:
            self._parse()
        except RequestError as error:
            self._fail(error)
            self.close()

    # -- use ------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return not self._closed and self.transport is not None and self._keep

    def request(self, payload: bytes) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self._reset_response()
        self._head_only = payload.startswith(b"HEAD ")
        self._buffer.clear()
        assert self.transport is not None
        self.transport.write(payload)
        return self.waiter

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    # -- framing --------------------------------------------------------------------------
    def _parse(self) -> None:
        buffer = self._buffer
        if not self._head_done:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > 65536:
                    raise RequestError("other", "response headers over 64 KiB")
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            self._read_head(head)
        if self._chunked:
            self._read_chunks()
        elif self._until_close:
            buffer.clear()
        elif len(buffer) >= self._body_left:
            del buffer[: self._body_left]
            self._finish()

    def _read_head(self, head: str) -> None:
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RequestError("other", f"not an HTTP/1.x response: {status_line[:60]!r}")
        self._status = int(parts[1])
        self._head_done = True
        length: int | None = None
        self._keep = parts[0] != "HTTP/1.0"
        for line in lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = True
            elif name == "connection":
                token = value.strip().lower()
                self._keep = token == "keep-alive" or (self._keep and token != "close")
        if self._head_only or self._status in (204, 304) or 100 <= self._status < 200:
            self._chunked, self._body_left = False, 0
            return
        if self._chunked:
            return
        if length is not None:
            self._body_left = length
        else:
            self._until_close, self._keep = True, False

    def _read_chunks(self) -> None:
        buffer = self._buffer
        while True:
            if self._body_left:  # inside a chunk: its data and its CRLF
                if len(buffer) < self._body_left:
                    return
                del buffer[: self._body_left]
                self._body_left = 0
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise RequestError("other", f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return
                del buffer[: trailer_end + 4]
                self._finish()
                return
            del buffer[: line_end + 2]
            self._body_left = size + 2

    def _finish(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self._status)

    def _fail(self, error: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
