"""Health checks per colour: status, body, timeout, latency, error rate, p95, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import FaultyServer, faulty_server
from routing_fixtures import embedded_router, free_port
from test_release_rollout import fast, release, states

from cdtui.config.release import HealthSpec, ReleaseSpec
from cdtui.engine.events import Event
from cdtui.release.health import ColourHealth, HealthChecker, Sample, probe
from cdtui.release.rollout import Outcome, State, preflight_limit
from cdtui.release.watch import Check, ColourSeries


@pytest.fixture
def blue() -> Iterator[FaultyServer]:
    with faulty_server("blue") as server:
        yield server


async def test_a_healthy_colour_passes_with_its_latency(blue: FaultyServer):
    sample = await probe("blue", blue.url, HealthSpec(body_contains="ok blue"))
    assert sample.ok and sample.status == 200 and sample.error == ""
    assert 0 < sample.latency_ms < 1000


async def test_wrong_status_and_missing_body_fail_with_a_reason(blue: FaultyServer):
    blue.fault = True
    sample = await probe("blue", blue.url, HealthSpec())
    assert not sample.ok and sample.status == 500 and "expected 200" in sample.error
    blue.fault = False
    sample = await probe("blue", blue.url, HealthSpec(body_contains="green"))
    assert not sample.ok and "body lacks" in sample.error


async def test_timeout_and_refused_connection_are_failures_not_exceptions(blue: FaultyServer):
    blue.delay_ms = 500
    sample = await probe("blue", blue.url, HealthSpec(timeout=0.1))
    assert not sample.ok and sample.status == 0 and "within 0.1s" in sample.error
    assert sample.latency_ms < 400
    sample = await probe("blue", f"http://127.0.0.1:{free_port()}", HealthSpec())
    assert not sample.ok and "ConnectionRefused" in sample.error


def sample(ok: bool, ms: float = 10.0) -> Sample:
    return Sample("green", ok, ms, 200 if ok else 500, 0.0)


def test_rolling_error_rate_p95_and_consecutive_failures():
    health = ColourHealth("green", window=10)
    spec = HealthSpec(max_error_rate=0.2, max_p95_ms=100, consecutive_failures=3)
    for ms in range(1, 21):
        health.add(sample(True, ms))
    assert health.error_rate == 0 and health.p95_ms == 20 and health.breach(spec) is None
    health.add(sample(False))
    health.add(sample(False))
    assert health.error_rate == pytest.approx(0.2) and health.breach(spec) is None
    health.add(sample(False))
    assert "3 consecutive failed checks" in (health.breach(spec) or "")
    health.add(sample(True, 500))
    assert "error rate 30%" in (health.breach(spec) or "")
    health.reset()
    health.add(sample(True, 500))
    assert "p95 latency 500 ms > 100 ms" in (health.breach(spec) or "")


def test_the_rollout_and_the_views_judge_the_same_checks_alike():
    """One window model: the release view never shows a p95 the analysis did not see."""
    health = ColourHealth("green")
    series = ColourSeries("green")
    for n in range(45):  # past the window: both forget the same old checks
        ok = n % 7 != 3
        ms = float((n * 37) % 90 + 1)
        health.add(sample(ok, ms))
        series.add(Check(float(n), ok, ms, 200 if ok else 500))
        assert (health.error_rate, health.p95_ms) == (series.error_rate, series.latency(95))
        assert health.consecutive_failures == series.consecutive_failures
    assert len(health.recent) == len(series.recent) == 20 and health.error_rate > 0


async def test_checker_samples_each_colour_on_its_interval(blue: FaultyServer):
    with faulty_server("green") as green:
        green.fault = True
        seen: list[Sample] = []
        spec = HealthSpec(interval=0.05, timeout=0.5)
        async with HealthChecker({"blue": blue.url, "green": green.url}, spec, seen.append) as hc:
            await asyncio.sleep(0.3)
        blue_n = sum(s.colour == "blue" for s in seen)
        assert 4 <= blue_n <= 8
        assert hc.health["blue"].breach(spec) is None
        assert hc.health["green"].consecutive_failures >= 4
        assert hc.health["green"].breach(spec) is not None


async def _serve_once_each(answer: bytes, close: bool) -> tuple[asyncio.Server, str]:
    """A raw server that answers every request with ``answer`` and, unless ``close``, keeps the
    connection open (as a server ignoring Connection: close would)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(5)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_the_version_a_colour_reports_is_read_from_its_health_answer():
    body = b'{"status": "ok", "version": "1.2.0", "colour": "green"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    answer = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    server, url = await _serve_once_each(answer, close=False)
    async with server:
        sample = await probe("green", url, HealthSpec(timeout=1))
    assert sample.ok and sample.version == "1.2.0"


async def test_an_empty_answer_on_a_kept_open_connection_does_not_wait_for_a_body():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    server, url = await _serve_once_each(answer, close=False)
    async with server:
        sample = await probe("green", url, HealthSpec(timeout=1))
    assert sample.ok and sample.latency_ms < 500 and sample.version == ""


# -- what healthy means by default ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (b'{"status": "ok", "version": "1.2.0"}', True),
        (b'{"status": "UP"}', True),
        (
            b'{"status": "degraded"}',
            True,
        ),  # not a down word: the operator decides with body_contains
        (b'{"status": "error", "detail": "db unreachable"}', False),
        (b'{"status": "DOWN"}', False),
        (b'{"status": "fail"}', False),
        (b'{"status": "out-of-service"}', False),
        (b'{"colour": "blue", "checks": {"db": {"status": "down"}}}', True),  # top level only
        (b'["status", "error"]', True),
        (b"status: error", True),  # not JSON: the HTTP status decides
    ],
)
async def test_a_json_status_that_says_down_fails_a_200(blue: FaultyServer, body: bytes, ok: bool):
    blue.health_body = body
    sample = await probe("blue", blue.url, HealthSpec())
    assert sample.status == 200 and sample.ok is ok
    if not ok:
        assert sample.error.startswith('HTTP 200 but the body says "status":')


async def test_body_contains_replaces_the_json_status_check(blue: FaultyServer):
    blue.health_body = b'{"status": "error", "ready": true}'
    assert (await probe("blue", blue.url, HealthSpec(body_contains='"ready": true'))).ok


# -- the error rate needs enough checks ----------------------------------------------------------


def test_the_error_rate_is_judged_only_over_min_checks():
    spec = HealthSpec()  # max_error_rate 0.1 over at least 10 checks, 3 failures in a row
    health = ColourHealth("green")
    health.add(sample(False))
    assert health.breach(spec) is None  # 1 of 1 failed: too few checks to call it a rate
    for _ in range(9):
        health.add(sample(True))
    assert health.breach(spec) is None  # 1 of 10 is 10%, not more
    health.add(sample(False))
    assert health.breach(spec) == "error rate 18% > 10% (2 of the last 11 checks failed)"
    strict = HealthSpec(min_checks=2, max_error_rate=0.5)
    one = ColourHealth("green")
    one.add(sample(False))
    assert one.breach(strict) is None
    one.add(sample(False))
    assert "error rate 100%" in (one.breach(strict) or "")


def test_a_strict_rate_is_accepted_and_waits_for_min_checks():
    """``max_error_rate: 0.01`` (the documented sketch) loads; one failure breaches only once
    ``min_checks`` checks are in, never as the first check of a step."""
    strict = HealthSpec(max_error_rate=0.01, consecutive_failures=100)
    health = ColourHealth("green")
    health.add(sample(False))
    assert health.breach(strict) is None
    for _ in range(strict.min_checks - 1):
        health.add(sample(True))
    assert "error rate" in (health.breach(strict) or "")
    assert HealthSpec(max_error_rate=0).max_error_rate == 0  # "no failure at all", said outright


# -- preflight on a real router ------------------------------------------------------------------


@pytest.fixture
def colours() -> Iterator[tuple[FaultyServer, FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        yield blue, green


async def released(
    tmp_path: Path, colours: tuple[FaultyServer, FaultyServer], **health: object
) -> tuple[Outcome, list[Event]]:
    blue, green = colours
    block = fast(blue.url, green.url, free_port(), steps=[100], hold=0.1)
    block["health"] = {**block["health"], **health}  # type: ignore[dict-item]
    events: list[Event] = []
    with embedded_router(tmp_path, block):
        outcome, _rows = await release(ReleaseSpec.model_validate(block), tmp_path, events)
    return outcome, events


async def test_a_colour_slower_than_the_interval_but_within_timeout_passes_preflight(
    tmp_path: Path, colours: tuple[FaultyServer, FaultyServer]
):
    """0.7 s answers, 1 s timeout, 0.1 s interval: four checks take ~2.8 s, past the 1.9 s a
    deadline counted in intervals gave; counted in max(interval, timeout) it is 10 s."""
    colours[1].delay_ms = 700
    outcome, events = await released(tmp_path, colours, interval=0.1, timeout=1.0, preflight=4)
    assert outcome.state is State.DONE, outcome.reason
    assert states(events)[:2] == [("preflight", 0), ("step", 100)]
    assert preflight_limit(4, 0.1, 1.0) == 10.0


async def test_one_failed_check_in_preflight_does_not_fail_it(
    tmp_path: Path, colours: tuple[FaultyServer, FaultyServer]
):
    colours[1].fail_next = 1
    outcome, _events = await released(tmp_path, colours, preflight=3)
    assert outcome.state is State.DONE, outcome.reason


async def test_a_colour_that_keeps_failing_still_fails_preflight(
    tmp_path: Path, colours: tuple[FaultyServer, FaultyServer]
):
    colours[1].fault = True
    outcome, _events = await released(tmp_path, colours, preflight=3)
    assert outcome.state is State.FAILED
    assert "idle green failed preflight: 3 consecutive failed checks (HTTP 500" in outcome.reason
