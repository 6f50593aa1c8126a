"""The HAProxy driver against a real haproxy -db: runtime API weights, read back, no reload."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_fixtures import ColourServer, colour_server, get, haproxy, load

from cdtui.config.release import RouterSpec
from cdtui.release.routers import (
    RouterMismatch,
    RouterRejected,
    RouterUnreachable,
    Weights,
    make_router,
)
from cdtui.release.routers.haproxy import HAProxyRouter


@pytest.fixture
def backends() -> Iterator[tuple[ColourServer, ColourServer]]:
    with colour_server("blue") as blue, colour_server("green") as green:
        yield blue, green


@pytest.fixture
def front(tmp_path: Path, backends) -> Iterator[tuple[str, HAProxyRouter]]:
    blue, green = backends
    with haproxy(tmp_path, blue.url, green.url) as (url, sock):
        spec = RouterSpec(kind="haproxy", socket=sock.name, backend="shop")
        driver = make_router(spec, tmp_path)  # a relative socket is taken from the project
        assert isinstance(driver, HAProxyRouter)
        yield url, driver


def run(coroutine):
    return asyncio.run(coroutine)


def test_weights_are_set_through_the_runtime_api_and_read_back(front):
    url, driver = front
    assert run(driver.get_weights()) == Weights.ALL_BLUE
    assert run(driver.set_weights(Weights(90, 10))) == Weights(90, 10)
    seen = Counter(get(url)[2].decode() for _ in range(100))
    assert abs(seen["green"] - 10) <= 3, seen
    assert run(driver.set_weights(Weights.ALL_GREEN)) == Weights.ALL_GREEN
    assert {get(url)[2] for _ in range(10)} == {b"green"}
    facts = run(driver.describe())
    assert facts["weights"] == "blue 0% / green 100%" and facts["pid"].isdigit()
    assert facts["green"].startswith("shop/green 127.0.0.1:") and "up, ready" in facts["green"]


def test_a_flip_under_load_fails_no_request(front):
    url, driver = front

    def flips() -> None:
        import time

        for green in (10, 50, 100, 50, 0, 100):
            time.sleep(0.25)
            run(driver.set_weights(Weights.green_percent(green)))

    result = load(url, threads=6, requests=4000, duration=5, during=flips)
    assert result.failures == []
    assert result.total >= 2000, result.total
    assert result.colours["blue"] and result.colours["green"]


def test_a_server_in_maintenance_is_reported_not_hidden(front, tmp_path: Path):
    _, driver = front
    with socket.socket(socket.AF_UNIX) as admin:
        admin.connect(str(tmp_path / "haproxy.sock"))
        admin.sendall(b"set server shop/green state maint\n")
        admin.recv(1024)
    with pytest.raises(RouterMismatch, match=r"shop/green is in maintenance.*state ready"):
        run(driver.set_weights(Weights(50, 50)))
    assert run(driver.get_weights()) == Weights.ALL_BLUE  # green takes no traffic


def test_unknown_backend_or_server_names_the_fix(front, tmp_path: Path):
    for spec in (
        RouterSpec(kind="haproxy", socket="haproxy.sock", backend="nope"),
        RouterSpec(kind="haproxy", socket="haproxy.sock", backend="shop", green_server="nope"),
    ):
        with pytest.raises(RouterRejected, match=r"No such .*check backend, blue_server"):
            run(make_router(spec, tmp_path).set_weights(Weights(50, 50)))


def test_no_socket_is_unreachable_with_the_config_line_to_add(tmp_path: Path):
    driver = make_router(RouterSpec(kind="haproxy", socket="gone.sock", backend="shop"), tmp_path)
    with pytest.raises(RouterUnreachable, match=r"stats socket .*level admin"):
        run(driver.get_weights())
