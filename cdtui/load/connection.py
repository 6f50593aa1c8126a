"""One kept-alive HTTP/1.1 connection as a bare ``asyncio.Protocol``: one request in flight,
the answer framed by Content-Length, chunked encoding or the connection's close."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Protocol

from cdtui.load.errors import RequestError


class Owner(Protocol):
    """Told when the request in flight ends (the pool): no future, no task per request."""

    def finished(self, conn: Connection, status: int) -> None: ...

    def failed(self, conn: Connection, error: BaseException) -> None: ...


class Connection(asyncio.Protocol):
    """One TCP connection; ``send`` writes a request, its owner hears how it ended."""

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
        "busy",
        "job",
        "owner",
        "transport",
    )

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is in flight
        self.job: tuple | None = None  # the owner's note of what is in flight
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
        if self.busy and not self._head_done and not buffer:
            # The usual case, a whole small answer in one read: no copy into the buffer.
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                try:
                    self._read_head(data[: end + 2])
                except RequestError as error:
                    self.fail(error)
                    return
                if not (self._chunked or self._until_close) and (
                    len(data) - end - 4 == self._body_left
                ):
                    self._body_left = 0
                    self._finish()
                    return
                data = data[end + 4 :]
        buffer += data
        if not self.busy:
            if buffer:  # bytes nobody asked for: the connection cannot be trusted
                self.close()
            return
        try:
            self._parse()
        except RequestError as error:
            self.fail(error)

    # -- use ------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return not self._closed and self.transport is not None and self._keep

    def send(self, payload: bytes) -> None:
        self.busy = True
        self._head_done = self._chunked = self._until_close = False
        self._status = self._body_left = 0
        self._keep = True
        self._head_only = payload.startswith(b"HEAD ")
        self._buffer.clear()
        assert self.transport is not None
        self.transport.write(payload)

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
            head = bytes(buffer[: end + 2])
            del buffer[: end + 4]
            self._read_head(head)
        if self._chunked:
            self._read_chunks()
        elif self._until_close:
            buffer.clear()
        elif len(buffer) >= self._body_left:
            del buffer[: self._body_left]
            self._body_left = 0
            self._finish()
        else:  # a body on its way: count it down, keep none of it
            self._body_left -= len(buffer)
            buffer.clear()

    def _read_head(self, head: bytes) -> None:
        """The status and the three headers that frame the body, found without splitting."""
        if head[:7] != b"HTTP/1." or head[12:13] not in (b" ", b"\r") or not head[9:12].isdigit():
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            raise RequestError("other", f"not an HTTP/1.x response: {line[:60]!r}")
        status = self._status = int(head[9:12])
        self._head_done = True
        lower = head.lower()
        keep = head[7:8] != b"0"  # HTTP/1.0 closes unless it says keep-alive
        connection = _header(lower, b"\r\nconnection:")
        if connection is not None:
            keep = connection == b"keep-alive" or (keep and connection != b"close")
        self._keep = keep
        if self._head_only or status in (204, 304) or 100 <= status < 200:
            self._body_left = 0
            return
        encoding = _header(lower, b"\r\ntransfer-encoding:")
        if encoding is not None and b"chunked" in encoding:
            self._chunked = True
            return
        length = _header(lower, b"\r\ncontent-length:")
        if length is not None:
            if not length.isdigit():
                raise RequestError("other", f"bad Content-Length {length[:20]!r}")
            self._body_left = int(length)
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
        if self.busy:
            self.busy = False
            self.owner.finished(self, self._status)

    def fail(self, error: BaseException) -> None:
        """End the request in flight with ``error`` (a timeout, a broken answer) and close."""
        self.close()  # first: its owner must not take it back as idle
        self._fail(error)

    def _fail(self, error: BaseException) -> None:
        if self.busy:
            self.busy = False
            self.owner.failed(self, error)


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (given as ``\\r\\nname:``) in a lower-cased head."""
    at = lower_head.find(name)
    if at < 0:
        return None
    start = at + len(name)
    return lower_head[start : lower_head.find(b"\r\n", start)].strip()
