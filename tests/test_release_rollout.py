"""The rollout on a real embedded router: steps, breach -> back to live, controls, records, lock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import FaultyServer, faulty_server
from routing_fixtures import InProcessRouter, embedded_router, free_port, release_block

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event
from cdtui.release.control import ReleaseDrift, difference, locked, prepare, rollback
from cdtui.release.events import ReleaseStateChanged, WeightChanged
from cdtui.release.rollout import State
from cdtui.release.routers import RouterUnreachable, Weights
from cdtui.store.releases import ReleaseLocked

INTERVAL = 0.05


def fast(blue: str, green: str, port: int, **extra: object) -> dict[str, object]:
    block = release_block(blue, green, port)
    health = {"interval": INTERVAL, "timeout": 0.5, "preflight": 2, "path": "/health"}
    block.update({"hold": 0.25, "keep_warm": 60, "health": health, **extra})
    return block


@pytest.fixture
def colours() -> Iterator[tuple[FaultyServer, FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        yield blue, green


@pytest.fixture
def routed(
    tmp_path: Path, colours: tuple[FaultyServer, FaultyServer]
) -> Iterator[tuple[ReleaseSpec, InProcessRouter]]:
    blue, green = colours
    block = fast(blue.url, green.url, free_port())
    with embedded_router(tmp_path, block) as router:
        yield ReleaseSpec.model_validate(block), router


def states(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.state, e.step) for e in events if isinstance(e, ReleaseStateChanged)]


async def release(spec: ReleaseSpec, project: Path, events: list[Event], **kw: object):
    async with locked(spec, project) as handle:
        rollout, _note = await prepare(handle, run_id=1, emit=events.append, **kw)  # type: ignore[arg-type]
        return await rollout.run(), handle.records.rows()


async def test_a_release_steps_to_green_then_rollback_returns_to_blue(routed, tmp_path):
    spec, router = routed
    events: list[Event] = []
    outcome, rows = await release(spec, tmp_path, events)
    assert outcome.state is State.DONE and outcome.live == "green"
    assert "blue is idle and kept warm" in outcome.reason
    assert states(events) == [
        ("preflight", 0),
        ("step", 10),
        ("step", 50),
        ("step", 100),
        ("done", 100),
    ]
    applied = [(e.blue, e.green) for e in events if isinstance(e, WeightChanged) and e.applied]
    assert applied == [(90, 10), (50, 50), (0, 100)]
    assert [r.kind for r in reversed(rows)][:3] == ["state", "intent", "applied"]
    assert await router.driver.get_weights() == Weights.ALL_GREEN
    async with locked(spec, tmp_path) as handle:
        back = await rollback(handle, run_id=2)
    assert back.state is State.ROLLED_BACK and back.live == "blue"
    assert await router.driver.get_weights() == Weights.ALL_BLUE


async def test_green_failing_at_50_percent_is_rolled_back_within_an_interval_of_the_breach(
    routed, colours, tmp_path
):
    """The third failed check in a row is the breach (two intervals after the first one): all
    traffic is back on blue within one more interval."""
    spec, router = routed
    _, green = colours
    events: list[Event] = []

    def fault_at_50(event: Event) -> None:
        events.append(event)
        if isinstance(event, ReleaseStateChanged) and event.step == 50:
            green.fault = True

    async with locked(spec, tmp_path) as handle:
        rollout, _ = await prepare(handle, run_id=1, emit=fault_at_50)
        outcome = await rollout.run()
    assert outcome.state is State.ABORTED and outcome.live == "blue"
    assert "idle green" in outcome.reason and "back on live blue" in outcome.reason
    assert outcome.breach_to_live_s is not None and outcome.breach_to_live_s <= 3 * INTERVAL
    assert await router.driver.get_weights() == Weights.ALL_BLUE
    assert ("step", 100) not in states(events)


async def test_a_failing_preflight_never_shifts_traffic(routed, colours, tmp_path):
    spec, router = routed
    colours[1].fault = True
    events: list[Event] = []
    outcome, _ = await release(spec, tmp_path, events)
    assert outcome.state is State.FAILED and "idle green failed preflight" in outcome.reason
    assert not [e for e in events if isinstance(e, WeightChanged)]
    assert await router.driver.get_weights() == Weights.ALL_BLUE


async def test_pause_holds_promote_skips_and_abort_returns_to_live(routed, tmp_path):
    spec = routed[0].model_copy(update={"hold": 30.0})
    events: list[Event] = []
    async with locked(spec, tmp_path) as handle:
        rollout, _ = await prepare(handle, run_id=1, emit=events.append)
        task = asyncio.create_task(rollout.run())
        while rollout.step != 10:
            await asyncio.sleep(0.01)
        rollout.pause()
        await asyncio.sleep(0.1)
        assert rollout.state is State.PAUSED
        rollout.resume()
        rollout.promote()
        while rollout.step != 50:
            await asyncio.sleep(0.01)
        began = time.monotonic()
        rollout.abort()
        outcome = await task
    assert time.monotonic() - began < 5  # not at the end of the 30 s hold
    assert outcome.state is State.ABORTED and "aborted by the operator" in outcome.reason
    assert ("paused", 10) in states(events) and outcome.weights == Weights.ALL_BLUE


async def test_a_router_changed_outside_cdtui_is_told_and_reconciled(routed, tmp_path):
    spec, router = routed
    outcome, _ = await release(spec, tmp_path, [], steps=[100])
    assert outcome.weights == Weights.ALL_GREEN
    await router.driver.set_weights(Weights(30, 70))
    async with locked(spec, tmp_path) as handle:
        with pytest.raises(ReleaseDrift) as drift:
            await prepare(handle, run_id=2)
    message = str(drift.value)
    assert "holds blue 30% / green 70%" in message and "says blue 0% / green 100%" in message
    assert "--reconcile" in message and "cdtui rollback" in message
    outcome, _ = await release(spec, tmp_path, [], reconcile=True)
    # green stayed live, so this release shifts the rest of the traffic to idle blue
    assert outcome.state is State.DONE and outcome.weights == Weights.ALL_BLUE


async def test_two_cdtui_processes_cannot_drive_one_router(routed, tmp_path):
    spec, _ = routed
    async with locked(spec, tmp_path):
        with pytest.raises(ReleaseLocked, match=r"another cdtui process \(pid \d+"):
            async with locked(spec, tmp_path):
                pass
    async with locked(spec, tmp_path):
        pass


async def test_a_router_lost_mid_release_is_reported_and_recorded_as_unconfirmed(routed, tmp_path):
    spec, router = routed
    spec = spec.model_copy(update={"hold": 30.0})
    async with locked(spec, tmp_path) as handle:
        rollout, _ = await prepare(handle, run_id=1)
        task = asyncio.create_task(rollout.run())
        while rollout.step != 10:
            await asyncio.sleep(0.01)
        sock = router.driver.paths.socket
        sock.rename(sock.with_suffix(".away"))  # the admin socket is gone: unreachable
        try:
            rollout.promote()
            with pytest.raises(RouterUnreachable, match="embedded router"):
                await task
        finally:
            sock.with_suffix(".away").rename(sock)
        last = handle.records.last_weights()
    assert last is not None and last.kind == "intent" and last.to_weights == Weights.ALL_BLUE
    told = difference(Weights(90, 10), last) or ""
    assert "never confirmed" in told and "it did not apply" in told


async def test_after_done_green_is_live_and_rollback_undoes_the_release(routed, tmp_path):
    spec, router = routed
    outcome, _ = await release(spec, tmp_path, [], steps=[100])
    assert outcome.live == "green"
    await router.driver.set_weights(Weights(40, 60))
    async with locked(spec, tmp_path) as handle:
        rollout, note = await prepare(handle, run_id=2, reconcile=True)
        assert (rollout.live, rollout.idle) == ("green", "blue") and "reconciled" in note
        back = await rollback(handle, run_id=3)  # undoes the last finished release: blue
    assert back.weights == Weights.ALL_BLUE and "back on live blue" in back.reason
