"""Releases under continuous load, through the embedded router and a real HAProxy: a green that
starts failing at 50% is rolled back automatically, and a healthy release fails no request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import FaultyServer, faulty_server
from routing_fixtures import LoadResult, embedded_router, free_port, haproxy, load
from test_release_rollout import INTERVAL, fast

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event
from cdtui.release.control import locked, prepare
from cdtui.release.events import ReleaseStateChanged
from cdtui.release.rollout import Outcome, State
from cdtui.release.routers import Weights, make_router

RATE = 200.0


@pytest.fixture
def colours() -> Iterator[tuple[FaultyServer, FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        yield blue, green


def release_under_load(
    url: str, spec: ReleaseSpec, project: Path, green: FaultyServer | None
) -> tuple[Outcome, LoadResult]:
    """Load at RATE req/s from 4 threads while the release runs; green faults at 50% if given."""
    outcomes: list[Outcome] = []

    def fault_at_50(event: Event) -> None:
        if green is not None and isinstance(event, ReleaseStateChanged) and event.step == 50:
            green.fault = True

    async def run() -> None:
        async with locked(spec, project) as handle:
            rollout, _ = await prepare(handle, run_id=1, emit=fault_at_50)
            outcomes.append(await rollout.run())

    result = load(
        url, threads=4, requests=100_000, duration=2.5, rate=RATE, during=lambda: asyncio.run(run())
    )
    return outcomes[0], result


def check_rolled_back(outcome: Outcome, result: LoadResult) -> None:
    assert outcome.state is State.ABORTED and outcome.weights == Weights.ALL_BLUE
    # The third failed check in a row is the breach; traffic is on blue within one more interval.
    assert outcome.breach_to_live_s is not None and outcome.breach_to_live_s <= 3 * INTERVAL
    assert result.total >= 300 and result.colours["blue"] > 0
    # Only requests that green answered between its fault and the rollback may fail.
    assert 0 < len(result.failures) <= RATE * 0.5 * (3 * INTERVAL + 0.25)
    assert all(f.startswith("HTTP 500") for f in result.failures), result.failures[:3]


def test_embedded_router_green_failing_at_50_is_rolled_back_under_load(tmp_path, colours):
    blue, green = colours
    block = fast(blue.url, green.url, free_port(), hold=0.6)
    with embedded_router(tmp_path, block) as router:
        outcome, result = release_under_load(
            router.url, ReleaseSpec.model_validate(block), tmp_path, green
        )
    check_rolled_back(outcome, result)


def haproxy_block(blue: str, green: str, sock: Path) -> dict[str, object]:
    block = fast(blue, green, free_port(), hold=0.4)
    block["router"] = {"kind": "haproxy", "socket": str(sock), "backend": "shop"}
    return block


def test_haproxy_release_fails_nothing_then_a_faulty_green_is_rolled_back(tmp_path, colours):
    blue, green = colours
    with haproxy(tmp_path, blue.url, green.url) as (url, sock):
        spec = ReleaseSpec.model_validate(haproxy_block(blue.url, green.url, sock))
        outcome, result = release_under_load(url, spec, tmp_path, None)
        assert outcome.state is State.DONE and outcome.live == "green"
        assert result.failures == [] and result.colours["green"] > 0
        assert asyncio.run(make_router(spec.router, tmp_path).get_weights()) == Weights.ALL_GREEN

        # green is live now: the next release goes back to blue, which fails at 50%
        def fault_blue_at_50(event: Event) -> None:
            if isinstance(event, ReleaseStateChanged) and event.step == 50:
                blue.fault = True

        async def run() -> Outcome:
            async with locked(spec, tmp_path) as handle:
                rollout, _ = await prepare(handle, run_id=2, emit=fault_blue_at_50)
                assert rollout.idle == "blue"
                return await rollout.run()

        outcome = asyncio.run(run())
        assert outcome.state is State.ABORTED and outcome.weights == Weights.ALL_GREEN
        assert "back on live green" in outcome.reason
