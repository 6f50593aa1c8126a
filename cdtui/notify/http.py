"""A small HTTP/1.1 POST over asyncio streams: cancellable, no thread, no new dependency.

A webhook hearing every event posts once per event, so each sink keeps one connection alive
(``Client``): a new TCP (and TLS) handshake per event cost a run more than the POST itself. A
connection the far end closed (``Connection: close``, HTTP/1.0, an idle timeout) is noticed
before reuse and replaced; a reused one that breaks before any answer is retried once on a new
one (at-least-once: the receiver dedupes on the event's id). ``Client.post`` maps the answer
onto the sink interface: 2xx returns, 408/429/5xx and network failures raise ``RetryLater``
(with ``Retry-After`` when given), other statuses ``SinkError``. Error texts name the sink,
never the URL (a Slack URL is its token).
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
    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        body: bytes,
        version: str = "HTTP/1.1",
        unframed: bool = False,  # the body ran to the connection's end
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.version, self.unframed = version, unframed

    @property
    def text(self) -> str:
        return self.body[:300].decode(errors="replace").strip()


class Client:
    """One kept-alive connection to one URL's host (a sink posts to one URL)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.netloc = parts.netloc.rpartition("@")[2]
        self._ssl: ssl.SSLContext | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0  # connections opened: what keep-alive saves

    def _raw(self, body: bytes, headers: dict[str, str]) -> bytes:
        head = [f"POST {self.target} HTTP/1.1", f"Host: {self.netloc}", "User-Agent: cdtui"]
        head += ["Connection: keep-alive", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """The open connection (``True``: reused) or a new one."""
        if self._writer is not None and self._reader is not None:
            # The loop reads every connection while idle, so a hang-up is already seen here (no
            # poll syscall a post); one that races the write is retried once by ``request``.
            if not (self._reader.at_eof() or self._writer.is_closing()):
                return self._reader, self._writer, True
            self.drop()
        if self.secure and self._ssl is None:
            self._ssl = ssl.create_default_context()
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._ssl)
        self.connects += 1
        self._reader, self._writer = reader, writer
        return reader, writer, False

    async def request(self, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        raw = self._raw(body, headers)
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancel
            for _ in range(2):
                reader, writer, reused = await self._connect()
                try:
                    writer.write(raw)
                    await writer.drain()
                    answer = await _read_answer(reader)
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    self.drop()
                    if reused:  # the far end closed it meanwhile: once more on a new one
                        continue
                    raise
                except BaseException:  # a timeout, a cancel, a bad answer: the stream is unusable
                    self.drop()
                    raise
                if _closes(answer):
                    self.drop()
                return answer
        raise ConnectionError("no HTTP answer")  # (not reached: the second try raises)

    def drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def post(self, sink: str, body: bytes, headers: dict[str, str], timeout: float) -> str:
        """POST ``body``; the answer's status line (``HTTP 200``) or RetryLater / SinkError."""
        try:
            answer = await self.request(body, headers, timeout)
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


def _closes(answer: Answer) -> bool:
    """Whether the server ends the connection after this answer (or its body had no length)."""
    said = answer.headers.get("connection", "").lower()
    if "close" in said or answer.unframed:
        return True
    return answer.version == "HTTP/1.0" and "keep-alive" not in said


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
    elif int(fields[1]) in (204, 304) or 100 <= int(fields[1]) < 200:
        body = b""
    else:
        body = await reader.read(MAX_BODY)
        return Answer(int(fields[1]), headers, body, fields[0], unframed=True)
    return Answer(int(fields[1]), headers, body, fields[0])


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
