"""HTTP/1.1 message heads and body framing for the embedded proxy (RFC 9112), streaming only.

Bodies are never held whole: they are copied piece by piece with backpressure, re-framed where the
two sides need different framing (chunked to an HTTP/1.0 client, close-delimited to chunked).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from enum import Enum
from http import HTTPStatus

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_TRAILERS = 16 * 1024
PIECE = 64 * 1024
SMALL_BODY = 64 * 1024
"""Bodies up to this size are read at once and sent with the head in one write."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,18}")


class HttpError(Exception):
    """A malformed message; ``status`` is what to answer when it came from the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ReadFailed(Exception):
    """The side being read from closed or broke mid-message."""


class WriteFailed(Exception):
    """The side being written to closed or broke mid-message."""


class Framing(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # response body runs until the server closes


class Message:
    """A request or response head: the start line's three parts and the header fields in order,
    indexed once by lower-cased name (repeated fields joined with ", ")."""

    __slots__ = ("headers", "index", "names", "start")

    def __init__(
        self, start: tuple[str, str, str], headers: list[tuple[str, str]], names: list[str]
    ) -> None:
        self.start = start
        self.headers = headers
        self.names = names
        index: dict[str, str] = {}
        for lower, (_, value) in zip(names, headers, strict=True):
            index[lower] = f"{index[lower]}, {value}" if lower in index else value
        self.index = index

    def get(self, name: str) -> str | None:
        """The header's value (repeats joined); ``name`` is lower-case."""
        return self.index.get(name)

    def values(self, name: str) -> list[str]:
        """The header's comma-separated tokens, lower-cased; ``name`` is lower-case."""
        value = self.index.get(name)
        if value is None:
            return []
        return [token.strip().lower() for token in value.split(",") if token.strip()]

    @property
    def version(self) -> str:
        return self.start[2] if self.is_request else self.start[0]

    @property
    def is_request(self) -> bool:
        return not self.start[0].startswith("HTTP/")

    @property
    def status(self) -> int:
        return int(self.start[1])

    def wants_keep_alive(self) -> bool:
        """HTTP/1.1 persists unless told to close; HTTP/1.0 only when it asks to keep alive."""
        if "connection" not in self.index:
            return self.version == "HTTP/1.1"
        tokens = self.values("connection")
        if "close" in tokens:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in tokens


def no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY on the connection: a proxy's small writes (a head, a chunk) must leave now.

    With Nagle on, a write waits for the peer's ACK of the one before, and a kept-alive peer
    delays that ACK ~40 ms. asyncio's selector transports set it already; the proxy does not
    rely on that detail of one event loop.
    """
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer may already be gone
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The head through its blank line; None when the peer closed cleanly before a new message."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ReadFailed("closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"message head larger than {MAX_HEAD // 1024} KiB") from None
    except (ConnectionError, OSError) as exc:
        raise ReadFailed(str(exc)) from None


def parse_head(raw: bytes, *, request: bool) -> Message:
    """Start line and header fields. A bare CR or LF, a NUL, obs-fold or a space before the colon
    is refused: a lenient backend could read such a head as a different message (smuggling)."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf or b"\0" in raw:
        raise HttpError(400 if request else 502, "bare CR, LF or NUL in the message head")
    lines = raw.decode("latin-1").split("\r\n")[:-2]
    while request and lines and not lines[0]:
        lines.pop(0)  # RFC 9112 2.2: ignore leading empty lines before a request
    if not lines:
        raise HttpError(400, "empty message head")
    parts = lines[0].split(" ", 2)
    if request:
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
            raise HttpError(400, "malformed request line")
        if parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise HttpError(505, f"unsupported protocol version {parts[2][:20]!r}")
    else:
        if len(parts) == 2:
            parts.append("")
        if len(parts) != 3 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(502, "malformed status line")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    headers: list[tuple[str, str]] = []
    names: list[str] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(400 if request else 502, "malformed header field")
        headers.append((name, value.strip(" \t")))
        names.append(name.lower())
    return Message((parts[0], parts[1], parts[2]), headers, names)


def request_framing(message: Message) -> tuple[Framing, int]:
    """How the request body is delimited: chunked, a length, or no body at all."""
    if message.get("transfer-encoding") is not None:
        if message.get("content-length") is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if message.values("transfer-encoding") != ["chunked"]:
            raise HttpError(501, "only the chunked transfer coding is supported")
        return Framing.CHUNKED, 0
    length = _content_length(message, 400)
    return (Framing.LENGTH, length) if length else (Framing.NONE, 0)


def response_framing(method: str, response: Message) -> tuple[Framing, int]:
    """RFC 9112 6.3: HEAD, 1xx, 204 and 304 have no body whatever the headers say."""
    status = response.status
    if method == "HEAD" or status < 200 or status in (204, 304):
        return Framing.NONE, 0
    if response.get("transfer-encoding") is not None:
        if response.values("transfer-encoding")[-1:] == ["chunked"]:
            return Framing.CHUNKED, 0
        return Framing.CLOSE, 0
    if response.get("content-length") is None:
        return Framing.CLOSE, 0
    length = _content_length(response, 502)
    return (Framing.LENGTH, length) if length else (Framing.NONE, 0)


def _content_length(message: Message, status: int) -> int:
    """Repeated equal values are one value (RFC 9110 8.6); differing ones are an error."""
    value = message.get("content-length")
    if value is None:
        return 0
    tokens = {t.strip() for t in value.split(",")}
    if len(tokens) != 1 or not _DIGITS.fullmatch(token := tokens.pop()):
        raise HttpError(status, "invalid Content-Length")
    return int(token)


def serialize(start: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _read(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        data = await reader.read(size)
    except (ConnectionError, OSError) as exc:
        raise ReadFailed(str(exc)) from None
    return data


async def _readline(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.IncompleteReadError:
        raise ReadFailed("closed inside a chunked body") from None
    except asyncio.LimitOverrunError:
        raise HttpError(400, "chunk line too long") from None
    except (ConnectionError, OSError) as exc:
        raise ReadFailed(str(exc)) from None


async def _drain(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        raise WriteFailed(str(exc)) from None
    if writer.transport.is_closing():
        raise WriteFailed("connection closed")


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ReadFailed(f"closed {size} bytes into a body") from None
    except (ConnectionError, OSError) as exc:
        raise ReadFailed(str(exc)) from None


async def copy_body(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    framing: Framing,
    length: int = 0,
    *,
    chunked_out: bool = False,
) -> None:
    """Stream one body from reader to writer. ``chunked_out`` frames close-delimited data as
    chunks and keeps chunked data chunked; otherwise chunked data goes out decoded."""
    if framing is Framing.LENGTH:
        await _copy_length(reader, writer, length)
    elif framing is Framing.CHUNKED:
        await _copy_chunked(reader, writer, chunked_out)
    elif framing is Framing.CLOSE:
        while data := await _read(reader, PIECE):
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked_out else data)
            await _drain(writer)
        if chunked_out:
            writer.write(b"0\r\n\r\n")
    await _drain(writer)


async def _copy_length(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int
) -> None:
    remaining = length
    while remaining:
        data = await _read(reader, min(remaining, PIECE))
        if not data:
            raise ReadFailed(f"closed with {remaining} bytes of the body still to come")
        writer.write(data)
        remaining -= len(data)
        await _drain(writer)


async def _copy_chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunked_out: bool
) -> None:
    while True:
        line = await _readline(reader)
        size_text = line[:-2].split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise HttpError(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        if chunked_out:
            writer.write(b"%x\r\n" % size)
        await _copy_length(reader, writer, size)
        if await read_exactly(reader, 2) != b"\r\n":
            raise HttpError(400, "chunk not followed by CRLF")
        if chunked_out:
            writer.write(b"\r\n")
    trailers: list[bytes] = []
    total = 0
    while (line := await _readline(reader)) != b"\r\n":
        total += len(line)
        if total > MAX_TRAILERS:
            raise HttpError(400, "trailer section too large")
        trailers.append(line)
    if chunked_out:
        writer.write(b"0\r\n" + b"".join(trailers) + b"\r\n")


def end_to_end(message: Message, also: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The header fields minus hop-by-hop ones (and those the Connection header or ``also``
    names)."""
    drop = HOP_BY_HOP | also
    if "connection" in message.index:
        drop = drop | set(message.values("connection"))
    return [
        field
        for field, lower in zip(message.headers, message.names, strict=True)
        if lower not in drop
    ]


async def answer(
    writer: asyncio.StreamWriter,
    status: int,
    text: str,
    *,
    close: bool,
    extra: tuple[tuple[str, str], ...] = (),
) -> None:
    """A short plain-text response of the proxy's own (400, 502, 504)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = f"{status} {reason}: {text}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    if close:
        headers.append(("Connection", "close"))
    writer.write(serialize(f"HTTP/1.1 {status} {reason}", headers) + body)
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
