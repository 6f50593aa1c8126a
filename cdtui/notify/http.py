"""A small HTTP/1.1 POST over asyncio streams: cancellable, no thread, no new dependency.

Sinks post rarely (a message per run outcome, a webhook per event), so one connection per
request is fine. ``post`` maps the answer onto the sink interface: 2xx returns, 408/429/5xx and
network failures raise ``RetryLater`` (with ``Retry-After`` when given), other statuses
``SinkError``. Error texts name the sink, never the URL (a Slack URL is its token).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import ssl
import time
from urllib.parse import urlsplit

from cdtui.notify.base import RetryLater, SinkError

MAX_BODY = 64 << 10
RETRYABLE = (408, 425, 429, 500, 502, 503, 504)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body[:300].decode(errors="replace").strip()


async def request(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname or ""
    context = ssl.create_default_context() if secure else None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}"]
    head += ["User-Agent: cdtui", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body

    async def exchange() -> Answer:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            writer.write(raw)
            await writer.drain()
            return await _read_answer(reader)
        finally:
            writer.close()

    async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancel
        return await exchange()


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    status_line = (await reader.readline()).decode("latin-1")
    fields = status_line.split(None, 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise ConnectionError("no HTTP answer")
    headers: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            break
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while len(body) < MAX_BODY:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readline()
    elif "content-length" in headers:
        body = await reader.readexactly(min(int(headers["content-length"]), MAX_BODY))
    else:
        body = await reader.read(MAX_BODY)
    return Answer(int(fields[1]), headers, body)


def why(error: BaseException) -> str:
    """The cause in words that hold no address (asyncio's connect errors quote host and port)."""
    code = getattr(error, "errno", None)
    if isinstance(code, int) and code:
        return os.strerror(code)
    return type(error).__name__


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def post(sink: str, url: str, body: bytes, headers: dict[str, str], timeout: float) -> str:
    """POST ``body``; the answer's status line (``HTTP 200``) or RetryLater / SinkError."""
    try:
        answer = await request(url, body, headers, timeout)
    except TimeoutError:
        raise RetryLater(f"{sink}: no answer within {timeout:g}s") from None
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as error:
        raise RetryLater(f"{sink}: cannot deliver ({why(error)})") from None
    if 200 <= answer.status < 300:
        return f"HTTP {answer.status}"
    said = f"HTTP {answer.status}" + (f": {answer.text}" if answer.text else "")
    if answer.status in RETRYABLE:
        raise RetryLater(f"{sink}: {said}", retry_after(answer.headers.get("retry-after")))
    raise SinkError(f"{sink}: {said}")
