"""The embedded router: exact splits, flips that fail nothing, streaming, stickiness, process."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from routing_fixtures import (
    ColourServer,
    InProcessRouter,
    colour_server,
    embedded_router,
    free_port,
    load,
    release_block,
    wait_for,
    write_project,
)

from cdtui.config.release import ReleaseSpec
from cdtui.release.routers import RouterUnreachable, Weights, make_router
from cdtui.release.routers.base import InvalidWeights
from cdtui.release.routers.embedded import EmbeddedRouter

ROUTER_CLI = [sys.executable, "-m", "cdtui.commands.router"]


@pytest.fixture
def backends() -> Iterator[tuple[ColourServer, ColourServer]]:
    with colour_server("blue") as blue, colour_server("green") as green:
        yield blue, green


@pytest.fixture
def router(
    tmp_path: Path, backends: tuple[ColourServer, ColourServer]
) -> Iterator[InProcessRouter]:
    blue, green = backends
    with embedded_router(tmp_path, release_block(blue.url, green.url, free_port())) as running:
        running.backends = (blue, green)
        yield running


def connect(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def fetch(conn: http.client.HTTPConnection, path: str = "/", method: str = "GET", **headers: str):
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    return response, response.read()


def colours(conn: http.client.HTTPConnection, count: int) -> Counter[str]:
    return Counter(fetch(conn)[1].decode() for _ in range(count))


def test_a_split_is_exact_not_random(router: InProcessRouter):
    conn = connect(router.url)
    assert router.set(90, 10) == Weights(90, 10)
    assert colours(conn, 10) == {"blue": 9, "green": 1}
    assert colours(conn, 100) == {"blue": 90, "green": 10}
    router.set(50, 50)
    assert colours(conn, 4) == {"blue": 2, "green": 2}


def test_a_kept_alive_connection_gets_the_new_weight_on_its_next_request(router: InProcessRouter):
    conn = connect(router.url)
    response, body = fetch(conn)
    assert body == b"blue" and response.getheader("X-Cdtui-Colour") == "blue"
    sock = conn.sock
    router.set(0, 100)
    response, body = fetch(conn)
    assert body == b"green" and response.getheader("X-Cdtui-Colour") == "green"
    assert conn.sock is sock  # the same client connection, not a new one


def test_set_weights_reads_back_and_a_restart_keeps_them(tmp_path: Path, backends):
    blue, green = backends
    release = release_block(blue.url, green.url, free_port())
    with embedded_router(tmp_path, release) as running:
        assert running.set(30, 70) == Weights(30, 70)
        assert asyncio.run(running.driver.get_weights()) == Weights(30, 70)
    with embedded_router(tmp_path, release) as running:
        assert asyncio.run(running.driver.get_weights()) == Weights(30, 70)
        assert colours(connect(running.url), 10) == {"blue": 3, "green": 7}


def test_weights_that_do_not_sum_to_100_are_refused():
    with pytest.raises(InvalidWeights, match="sum to 100"):
        Weights(50, 60)
    with pytest.raises(InvalidWeights, match=r"0\.\.100"):
        Weights(-10, 110)


def test_bodies_stream_both_ways_chunked(router: InProcessRouter):
    conn = connect(router.url)
    pieces = [os.urandom(256 * 1024) for _ in range(16)]  # 4 MiB, far above the buffered size
    conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
    answer = json.loads(conn.getresponse().read())
    assert answer["length"] == 4 * 1024 * 1024
    assert answer["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()

    big = os.urandom(3 * 1024 * 1024)
    conn.request("PUT", "/echo", body=big)
    assert json.loads(conn.getresponse().read())["sha256"] == hashlib.sha256(big).hexdigest()

    began = time.monotonic()
    conn.request("GET", "/chunked?n=3&size=1000&gap_ms=1500")
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    first = response.read1(4000)
    # before the backend sent its second chunk (a buffering router: after its last, >= 3 s)
    assert first.startswith(b"blue") and time.monotonic() - began < 1.5
    assert len(first + response.read()) == 3 * 4000


def test_sticky_cookie_holds_a_client_to_its_colour_while_that_colour_has_weight(
    tmp_path: Path, backends
):
    blue, green = backends
    release = release_block(blue.url, green.url, free_port(), sticky=True)
    with embedded_router(tmp_path, release) as running:
        running.set(50, 50)
        conn = connect(running.url)
        response, first = fetch(conn)
        cookie = response.getheader("Set-Cookie").split(";")[0]
        assert cookie == f"cdtui-colour={first.decode()}"
        for _ in range(6):
            response, body = fetch(conn, Cookie=f"theme=dark; {cookie}")
            assert body == first and response.getheader("Set-Cookie") is None
        seen = json.loads(fetch(conn, "/headers", Cookie=f"theme=dark; {cookie}")[1])
        assert seen["Cookie"] == "theme=dark"  # the backend never sees the router's cookie
        other = "green" if first == b"blue" else "blue"
        running.set(*((100, 0) if other == "blue" else (0, 100)))
        response, body = fetch(conn, Cookie=cookie)
        assert body.decode() == other
        assert response.getheader("Set-Cookie").startswith(f"cdtui-colour={other}")


def test_a_dead_backend_gives_a_short_502_and_the_connection_lives_on(tmp_path: Path):
    with colour_server("blue") as blue:
        dead = f"http://127.0.0.1:{free_port()}"
        with embedded_router(tmp_path, release_block(blue.url, dead, free_port())) as running:
            running.set(0, 100)
            conn = connect(running.url)
            response, body = fetch(conn)
            assert response.status == 502 and response.getheader("X-Cdtui-Colour") == "green"
            assert b"green backend" in body and len(body) < 300
            running.set(100, 0)
            assert fetch(conn)[1] == b"blue"
            assert "green 1" in asyncio.run(running.driver.describe())["router errors"]


def test_head_204_and_304_have_no_body_and_keep_the_connection(router: InProcessRouter):
    conn = connect(router.url)
    response, body = fetch(conn, method="HEAD")
    assert response.status == 200 and response.getheader("Content-Length") == "4" and body == b""
    for status in (204, 304):
        response, body = fetch(conn, f"/status/{status}")
        assert response.status == status and body == b""
    assert fetch(conn)[1] == b"blue"


def raw_exchange(url: str, request: bytes) -> bytes:
    """Everything the router sends until it closes the connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_connection_close_and_http_1_0_end_the_connection(router: InProcessRouter):
    reply = raw_exchange(router.url, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and b"Connection: close" in reply
    assert reply.endswith(b"\r\n\r\nblue")
    reply = raw_exchange(router.url, b"GET /chunked?n=2&size=3 HTTP/1.0\r\n\r\n")
    assert reply.endswith(b"\r\n\r\nblueblueblueblueblueblue")  # de-chunked for HTTP/1.0
    reply = raw_exchange(router.url, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n", b"400"),  # bare LF
        (b"GET / HTTP/1.1\r\nX : a\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", b"501"),
        (b"GET / HTTP/2\r\n\r\n", b"505"),
    ],
)
def test_ambiguous_requests_are_refused_not_forwarded(
    router: InProcessRouter, request_bytes: bytes, status: bytes
):
    hits = sum(server.hits for server in router.backends)
    assert raw_exchange(router.url, request_bytes).startswith(b"HTTP/1.1 " + status)
    assert sum(server.hits for server in router.backends) == hits


def test_a_request_in_flight_finishes_on_the_colour_it_started_on(router: InProcessRouter):
    result: list[bytes] = []
    slow = threading.Thread(
        target=lambda: result.append(fetch(connect(router.url), "/slow?ms=400")[1])
    )
    slow.start()
    time.sleep(0.1)
    router.set(0, 100)
    assert fetch(connect(router.url))[1] == b"green"
    slow.join(5)
    assert result == [b"blue"]


def test_a_slow_backend_gets_a_504_and_an_idle_client_is_closed(
    tmp_path: Path, backends, monkeypatch: pytest.MonkeyPatch
):
    from cdtui.release.routers.proxy import Proxy

    monkeypatch.setattr(Proxy, "response_timeout", 0.3)
    monkeypatch.setattr(Proxy, "client_idle", 0.3)
    monkeypatch.setattr(Proxy, "sweep_every", 0.05)
    blue, green = backends
    with embedded_router(tmp_path, release_block(blue.url, green.url, free_port())) as running:
        conn = connect(running.url)
        response, body = fetch(conn, "/slow?ms=1500")
        assert response.status == 504 and b"no response within 0.3s" in body
        assert fetch(conn)[1] == b"blue"  # the client connection survived the 504
        time.sleep(0.6)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            fetch(conn)  # closed by the router while idle


def test_a_flip_under_load_fails_no_request(router: InProcessRouter):
    def flips() -> None:
        for green in (10, 50, 100, 50, 0, 100):
            time.sleep(0.25)
            router.set(100 - green, green)

    result = load(router.url, threads=6, requests=4000, duration=5, during=flips)
    assert result.failures == []
    assert result.total >= 2000, result.total
    assert result.colours["blue"] and result.colours["green"]


class _ForgetfulHandler(socketserver.StreamRequestHandler):
    """Answers the first request on a connection; drops the connection at the second, as a
    backend does when its keep-alive timeout strikes just as a request arrives."""

    def handle(self) -> None:
        for answered in (False, True):
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                pass
            if not line or answered:
                return
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nblue")


def test_a_pooled_connection_the_backend_dropped_is_retried_not_failed(tmp_path: Path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ForgetfulHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    blue = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with embedded_router(
            tmp_path, release_block(blue, "http://127.0.0.1:1", free_port())
        ) as running:
            conn = connect(running.url)
            assert [fetch(conn)[0].status for _ in range(5)] == [200] * 5
    finally:
        server.shutdown()
        server.server_close()


def test_make_router_picks_the_embedded_driver(tmp_path: Path):
    spec = ReleaseSpec.model_validate(release_block("http://127.0.0.1:1", "http://127.0.0.1:2", 80))
    assert isinstance(make_router(spec.router, tmp_path), EmbeddedRouter)


# --- the router as its own process, through the CLI --------------------------------------------


def cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROUTER_CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_serve_status_stop_as_real_processes_and_stale_socket_detection(tmp_path: Path, backends):
    blue, green = backends
    port = free_port()
    write_project(tmp_path, release_block(blue.url, green.url, port))
    driver = EmbeddedRouter(tmp_path)
    with pytest.raises(RouterUnreachable, match="no embedded router is running"):
        asyncio.run(driver.get_weights())

    started = cli("serve", "--detach", str(tmp_path))
    assert started.returncode == 0, started.stderr
    assert f"listening on 127.0.0.1:{port}" in started.stdout
    pid = int((tmp_path / ".cdtui/router/router.pid").read_text())
    assert (tmp_path / ".cdtui/router/admin.sock").stat().st_mode & 0o777 == 0o600
    assert asyncio.run(driver.set_weights(Weights(80, 20))) == Weights(80, 20)

    status = cli("status", str(tmp_path))
    assert status.returncode == 0, status.stderr
    for expected in (f"127.0.0.1:{port}", "pid:", str(pid), "blue 80% / green 20%", green.url):
        assert expected in status.stdout
    again = cli("serve", "--detach", str(tmp_path))
    assert again.returncode == 1 and "already running" in again.stderr

    os.kill(pid, signal.SIGKILL)  # the router dies: its socket and pid file are now stale
    wait_for(lambda: not _alive(pid), 5, "the router to die")
    with pytest.raises(RouterUnreachable, match=rf"died \(pid {pid} is gone.*serve --detach"):
        asyncio.run(driver.get_weights())
    down = cli("status", str(tmp_path))
    assert down.returncode == 1 and "serve --detach" in down.stderr

    restarted = cli("serve", "--detach", str(tmp_path))
    assert restarted.returncode == 0, restarted.stderr
    assert asyncio.run(driver.get_weights()) == Weights(80, 20)  # what it last had
    conn = connect(f"http://127.0.0.1:{port}")
    assert colours(conn, 5) == {"blue": 4, "green": 1}
    conn.close()

    stopped = cli("stop", str(tmp_path))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert not (tmp_path / ".cdtui/router/admin.sock").exists()
    assert cli("stop", str(tmp_path)).stdout.startswith("no embedded router is running")


def test_serve_reports_a_busy_port_and_a_bad_release_block(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        write_project(tmp_path, release_block("http://127.0.0.1:1", "http://127.0.0.1:2", port))
        result = cli("serve", "--detach", str(tmp_path))
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    write_project(tmp_path, {**release_block("http://a:1", "http://b:2", port), "steps": [50, 20]})
    result = cli("serve", str(tmp_path))
    assert result.returncode == 2 and "steps must increase" in result.stderr


def _alive(pid: int) -> bool:
    from cdtui.release.routers.files import pid_alive

    return pid_alive(pid)


# --- the release block --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": [10, 10, 100]}, "steps must increase"),
        ({"steps": [10, 50]}, "last step must be 100"),
        ({"steps": [0, 100]}, "share of traffic, 1 to 100"),
        ({"strategy": "canary", "steps": [10, 50, 100]}, "canary takes two steps"),
        ({"green": {"url": "http://127.0.0.1:8001"}}, "same url"),
        ({"green": {"url": "https://127.0.0.1:8002"}}, "plain HTTP only"),
        ({"router": {"kind": "haproxy", "socket": "/run/h.sock"}}, "needs backend"),
        (
            {"router": {"kind": "haproxy", "socket": "s", "backend": "b", "sticky": True}},
            "haproxy.cfg",
        ),
        ({"router": {"kind": "alb", "listen": "127.0.0.1:80"}}, "listen applies to kind: embedded"),
        ({"router": {"listen": "localhost"}}, "HOST:PORT"),
        ({"health": {"path": "health"}}, "starting with /"),
        ({"hold": "soon"}, "duration"),
    ],
)
def test_the_release_block_rejects_what_cannot_work(change: dict[str, object], message: str):
    block = {"blue": {"url": "http://127.0.0.1:8001"}, "green": {"url": "http://127.0.0.1:8002"}}
    with pytest.raises(ValidationError, match=message):
        ReleaseSpec.model_validate({**block, **change})


def test_the_release_block_defaults_serve_the_sample_project():
    spec = ReleaseSpec.model_validate(
        {"blue": {"url": "http://127.0.0.1:8001/"}, "green": {"url": "http://127.0.0.1:8002"}}
    )
    assert spec.router.kind == "embedded" and spec.router.listen_address == ("127.0.0.1", 8080)
    assert spec.blue.url == "http://127.0.0.1:8001" and spec.effective_steps == (100,)
    assert spec.hold == 5.0 and spec.keep_warm == 600.0 and spec.health.interval == 1.0
    linear = spec.model_copy(update={"strategy": "linear"})
    assert linear.effective_steps[:3] == (10, 20, 30)
