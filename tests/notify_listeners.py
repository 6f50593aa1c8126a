"""Real listeners on loopback for the notifier tests: an HTTP server (Slack, webhooks) that can
answer 429 with Retry-After, and a TCP json_lines listener standing in for logstash's input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpListener:
    """Answers each POST with the next scripted (status, headers), then 200; HTTP/1.1 with
    keep-alive, as Slack is. ``hangups`` answers close their connection without saying so (an
    idle timeout's effect); ``peers`` are the client ports seen (one per connection)."""

    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hangups: int = 0
    peers: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, request: Request) -> tuple[int, dict[str, str]]:
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else (200, {})

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)


def start_http(port: int = 0) -> HttpListener:
    """An ``HttpListener`` serving on its own thread (``port`` 0: any free one)."""
    holder: dict[str, HttpListener] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer (flushed after each request): headers and body in two small
        # writes would wait on Nagle and the client's delayed ACK, 40-200 ms an answer.
        wbufsize = -1

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Request(self.path, dict(self.headers), body, time.monotonic())
            listener = holder["it"]
            status, headers = listener.answer(request)
            with listener.lock:
                listener.peers.add(self.client_address[1])
                if listener.hangups > 0:
                    listener.hangups -= 1
                    self.close_connection = True
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            reply = b"ok" if status < 300 else b"rate_limited" if status == 429 else b"nope"
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    holder["it"] = listener = HttpListener(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return listener


def stop_http(listener: HttpListener) -> None:
    listener.server.shutdown()
    listener.server.server_close()


@pytest.fixture
def http_listener() -> Iterator[HttpListener]:
    listener = start_http()
    yield listener
    stop_http(listener)


class _Lines(asyncio.Protocol):
    def __init__(self, owner: LineListener) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.owner.connections.add(self)
        self.owner.accepted += 1

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.connections.discard(self)


class LineListener:
    """A logstash ``tcp { codec => json_lines }`` stand-in in the test's own loop.

    ``stop`` is synchronous and reads what the kernel already holds before closing, as a
    logstash that shuts down cleanly does, so a test can stop it between any two writes."""

    def __init__(self) -> None:
        self.port = 0
        self.lines: list[dict[str, Any]] = []
        self.connections: set[_Lines] = set()
        self.accepted = 0
        self._partial = b""
        self._server: asyncio.Server | None = None

    def feed(self, data: bytes) -> None:
        data = self._partial + data
        *whole, self._partial = data.split(b"\n")
        self.lines += [json.loads(line) for line in whole if line]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Lines(self), "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in list(self.connections):
            assert conn.transport is not None
            sock = conn.transport.get_extra_info("socket")
            while True:
                try:
                    data = os.read(sock.fileno(), 1 << 16)
                except BlockingIOError:
                    break
                if not data:
                    break
                self.feed(data)
            # Shut the socket down now: a transport's close() only takes effect on the next loop
            # iteration, and a sink writing before that would write into a socket being closed.
            twin = socket.socket(fileno=os.dup(sock.fileno()))
            with contextlib.suppress(OSError):
                twin.shutdown(socket.SHUT_RDWR)
            twin.close()
            conn.transport.close()
        self._server = None

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.lines
