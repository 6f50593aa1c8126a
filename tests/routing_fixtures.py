"""Real servers for the router tests: colour backends, HAProxy, a moto server, load helpers.

Backends are ThreadingHTTPServers with a raised listen backlog: the default of 5 makes 1-2 s
latency spikes under 10-20 concurrent connections, which would read as router faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cdtui.config.release import ReleaseSpec
from cdtui.release.routers.embedded import EmbeddedRouter
from cdtui.release.routers.files import RouterPaths
from cdtui.release.routers.service import RouterService, serve

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require(found: bool, what: str) -> None:
    """Skip locally when a tool is missing; under CI=true that is a failure, never a skip."""
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is required under CI=true")
        pytest.skip(f"{what} is not installed")


class _ColourHandler(BaseHTTPRequestHandler):
    """Answers its colour; /echo hashes the body, /chunked streams, /slow waits, /headers tells."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: Nagle + delayed ACK = 40 ms
    server: ColourServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.read(2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self.server.hits += 1
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        colour = self.server.colour.encode()
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = colour * int(query.get("size", "1000"))
            for index in range(int(query.get("n", "10"))):
                if index:
                    time.sleep(float(query.get("gap_ms", "0")) / 1000)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif url.path.startswith("/status/"):
            self._send(int(url.path.rsplit("/", 1)[1]), b"")
        elif url.path == "/headers":
            self._send(200, json.dumps(dict(self.headers.items())).encode(), "application/json")
        else:
            if url.path == "/slow":
                time.sleep(float(query.get("ms", "200")) / 1000)
            self._send(200, colour)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self.server.hits += 1
        data = self._body()
        answer = {"colour": self.server.colour, "length": len(data)}
        answer["sha256"] = hashlib.sha256(data).hexdigest()
        self._send(200, json.dumps(answer).encode(), "application/json")

    do_PUT = do_POST


class ColourServer(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, colour: str, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _ColourHandler)
        self.colour = colour
        self.hits = 0

    def handle_error(self, request: object, client_address: object) -> None:
        """A router dropping an idle pooled connection is routine, not a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def colour_server(colour: str, port: int = 0) -> Iterator[ColourServer]:
    server = ColourServer(colour, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def release_block(blue: str, green: str, port: int, **router: object) -> dict[str, object]:
    return {
        "router": {"kind": "embedded", "listen": f"127.0.0.1:{port}", **router},
        "blue": {"url": blue},
        "green": {"url": green},
        "steps": [10, 50, 100],
    }


def write_project(project_dir: Path, release: dict[str, object]) -> Path:
    """A pipeline whose only phase is a release, as the DESIGN sketch writes it."""
    project_dir.mkdir(parents=True, exist_ok=True)
    path = project_dir / "cdtui.yaml"
    path.write_text(
        json.dumps({"project": "demo", "phases": [{"name": "Release", "release": release}]})
    )
    return path


@dataclass
class InProcessRouter:
    """An embedded router served on a thread's event loop, driven through its admin socket."""

    service: RouterService
    loop: asyncio.AbstractEventLoop
    driver: EmbeddedRouter
    backends: tuple[ColourServer, ...] = ()

    @property
    def url(self) -> str:
        return f"http://{self.service.listen}"

    def set(self, blue: int, green: int) -> object:
        from cdtui.release.routers.base import Weights

        return asyncio.run(self.driver.set_weights(Weights(blue, green)))


@contextlib.contextmanager
def embedded_router(project_dir: Path, release: dict[str, object]) -> Iterator[InProcessRouter]:
    spec = ReleaseSpec.model_validate(release)
    ready = threading.Event()
    started: dict[str, object] = {}

    def on_ready(service: RouterService) -> None:
        started.update(service=service, loop=asyncio.get_running_loop())
        ready.set()

    def run() -> None:
        try:
            asyncio.run(serve(spec, RouterPaths.of(project_dir), on_ready=on_ready))
        except BaseException as exc:
            started["error"] = exc
            ready.set()

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(10)
    if "error" in started:
        raise started["error"]  # type: ignore[misc]
    service: RouterService = started["service"]  # type: ignore[assignment]
    loop: asyncio.AbstractEventLoop = started["loop"]  # type: ignore[assignment]
    try:
        yield InProcessRouter(service, loop, EmbeddedRouter(project_dir))
    finally:
        loop.call_soon_threadsafe(service.request_stop)
        thread.join(15)


def serve_colour(colour: str, port: int) -> None:
    """Entry point for a backend in its own process (the benchmark)."""
    ColourServer(colour, port).serve_forever()


@contextlib.contextmanager
def haproxy(
    directory: Path, blue: str, green: str, *, weights: tuple[int, int] = (100, 0)
) -> Iterator[tuple[str, Path]]:
    """HAProxy 2.6 in front of two backends: yields (URL, admin socket path)."""
    require(Path(HAPROXY).exists(), "haproxy")
    port = free_port()
    sock = directory / "haproxy.sock"
    config = directory / "haproxy.cfg"
    servers = [
        f"    server {name} {urlsplit(url).netloc} weight {weight}"
        for name, url, weight in (("blue", blue, weights[0]), ("green", green, weights[1]))
    ]
    config.write_text(
        "\n".join(
            [
                "global",
                f"    stats socket {sock} mode 600 level admin",
                "    maxconn 4096",
                "defaults",
                "    mode http",
                "    timeout connect 2s",
                "    timeout client 30s",
                "    timeout server 30s",
                "frontend fe",
                f"    bind 127.0.0.1:{port}",
                "    default_backend shop",
                "backend shop",
                "    balance roundrobin",
                *servers,
                "",
            ]
        )
    )
    log = (directory / "haproxy.log").open("wb")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=log)
    try:
        wait_for(lambda: sock.exists() and port_open(port), 5, "haproxy to listen")
        yield f"http://127.0.0.1:{port}", sock
    finally:
        proc.terminate()
        proc.wait(5)
        log.close()


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A ThreadedMotoServer on a free loopback port, with fake credentials: yields its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require(False, "moto[server]")
        raise
    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    saved = {key: os.environ.get(key) for key in fake}
    os.environ.update(fake)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def get(url: str, path: str = "/", **headers: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@dataclass
class LoadResult:
    colours: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.colours.values()) + len(self.failures)


def load(
    url: str,
    *,
    threads: int,
    requests: int,
    duration: float,
    rate: float | None = None,
    during: Callable[[], None] | None = None,
) -> LoadResult:
    """Keep-alive GETs from ``threads`` threads until ``requests`` are done or ``duration`` ends;
    ``during`` runs in the calling thread meanwhile (the flip). ``rate`` paces requests/s."""
    parts = urlsplit(url)
    result = LoadResult()
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(requests))
    began = time.monotonic()
    interval = threads / rate if rate else 0.0

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        next_at = time.monotonic() + interval * index / threads
        while not stop.is_set() and time.monotonic() - began < duration:
            with lock:
                if next(counter, None) is None:
                    break
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            sent = time.perf_counter()
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode()
                took = time.perf_counter() - sent
                outcome = body if response.status == 200 else f"HTTP {response.status}: {body}"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                outcome, took = f"{type(exc).__name__}: {exc}", 0.0
            with lock:
                if outcome in ("blue", "green"):
                    result.colours[outcome] += 1
                    result.latencies.append(took)
                else:
                    result.failures.append(outcome)
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    try:
        if during is not None:
            during()
    finally:
        for thread in workers:
            thread.join(duration + 15)
        stop.set()
    return result
