"""No ~40 ms stall per request on kept-alive connections, through the embedded router or not.

A server that sends a response as two small writes with Nagle on holds the second one until the
peer ACKs the first, and a kept-alive peer delays that ACK ~40 ms: every request then takes 40 ms.
The sample shop did (head, then body); a router relaying a chunked body piece by piece would too.
The end-to-end checks bound 20 requests at 0.4 s: one stall per request makes that >= 0.8 s.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
from routing_fixtures import (
    ColourServer,
    InProcessRouter,
    colour_server,
    embedded_router,
    free_port,
    release_block,
)

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
sys.path.append(str(SAMPLE))  # appended: the sample's own `tests` package must not shadow ours

from shop import db  # noqa: E402
from shop.config import Settings  # noqa: E402
from shop.server import ShopHandler, ShopServer, make_server  # noqa: E402

T = TypeVar("T")
REQUESTS = 20
BOUND = 0.4  # seconds for REQUESTS; a delayed-ACK stall per request is >= 0.8 s


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[ShopServer]:
    """The sample shop's real server, in a thread, on a free port."""
    path = tmp_path / "shop.db"
    db.seed_file(path)
    server = make_server(Settings(host="127.0.0.1", port=0, db=str(path)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def chunked() -> Iterator[ColourServer]:
    """A backend (Nagle off) whose chunked answers are several small writes: head, each chunk."""
    with colour_server("blue") as server:
        yield server


@contextlib.contextmanager
def router_to(tmp_path: Path, blue: str) -> Iterator[InProcessRouter]:
    """The embedded router with all traffic on ``blue`` (green is a port nobody listens on)."""
    release = release_block(blue, f"http://127.0.0.1:{free_port()}", free_port())
    with embedded_router(tmp_path, release) as running:
        yield running


def timed(url: str, path: str) -> float:
    """Seconds for REQUESTS GETs on one kept-alive connection (after one to open it)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        get(conn, path)
        began = time.perf_counter()
        for _ in range(REQUESTS):
            get(conn, path)
        return time.perf_counter() - began
    finally:
        conn.close()


def get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and not response.will_close, (response.status, body[:200])
    return body


def on_loop(router: InProcessRouter, work: Callable[[], T]) -> T:
    """Run ``work`` on the router's event loop thread: its sockets belong to that thread."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def call() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:
            done.set_exception(exc)

    router.loop.call_soon_threadsafe(call)
    return done.result(10)


def test_the_router_sets_tcp_nodelay_on_client_and_upstream_sockets(
    tmp_path: Path, chunked: ColourServer
):
    with router_to(tmp_path, chunked.url) as router:
        parts = urlsplit(router.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            get(conn, "/")  # one request: a client connection open, an upstream one pooled
            proxy = router.service.proxy

            def sockets() -> tuple[list[bool], list[bool]]:
                clients = [c.writer.get_extra_info("socket") for c in proxy._clients]
                pooled = [c.writer.get_extra_info("socket") for c in proxy.backends["blue"]._idle]
                return [nodelay(s) for s in clients], [nodelay(s) for s in pooled]

            client_side, upstream_side = on_loop(router, sockets)
        finally:
            conn.close()
    assert client_side == [True]
    assert upstream_side == [True]


def test_the_sample_server_sets_tcp_nodelay_on_accepted_sockets(shop: ShopServer):
    seen: list[bool] = []

    class Recording(ShopHandler):
        def setup(self) -> None:
            super().setup()
            seen.append(nodelay(self.connection))

    shop.RequestHandlerClass = Recording
    timed(shop.url, "/health")
    assert seen == [True]


def test_the_sample_server_sends_head_and_body_in_one_write(shop: ShopServer):
    """Its buffered writer holds the head until the body joins it: one send per response."""
    sends: list[int] = []

    class Counting(ShopHandler):
        def setup(self) -> None:
            super().setup()
            raw = getattr(self.wfile, "raw", self.wfile)  # what reaches the socket
            write = raw.write

            def counted(data: bytes) -> int | None:
                sends.append(len(data))
                return write(data)

            raw.write = counted

    shop.RequestHandlerClass = Counting
    timed(shop.url, "/static/style.css")
    assert len(sends) == REQUESTS + 1


def test_keep_alive_requests_to_the_sample_shop_do_not_stall(tmp_path: Path, shop: ShopServer):
    direct = timed(shop.url, "/static/style.css")
    with router_to(tmp_path, shop.url) as router:
        through = timed(router.url, "/static/style.css")
    assert max(direct, through) < BOUND, (direct, through)


def test_a_body_relayed_in_pieces_does_not_stall_behind_nagle(
    tmp_path: Path, chunked: ColourServer
):
    """Head and chunks arrive from the backend as separate writes; the router sends each on."""
    with router_to(tmp_path, chunked.url) as router:
        through = timed(router.url, "/chunked?n=3&size=10")
    assert through < BOUND, through


def test_the_smoke_gate_measures_kept_alive_connections(shop: ShopServer):
    """What users get: each smoke client reuses one connection, so a stall would show."""
    opened: list[int] = []

    class Counting(ShopHandler):
        def setup(self) -> None:
            super().setup()
            opened.append(1)

    shop.RequestHandlerClass = Counting
    smoke = SAMPLE / "scripts" / "smoke.py"
    argv = [sys.executable, str(smoke), f"{shop.url}/static/style.css", "--p95-ms", "20"]
    done = subprocess.run(
        [*argv, "--requests", "40", "--concurrency", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CDTUI_METRICS"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40/40 requests" in done.stdout and "errors 0" in done.stdout
    assert len(opened) == 2
