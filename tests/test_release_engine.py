"""A pipeline's release phase runs the rollout through the engine: events, gate, cancel, deploy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EngineFactory, pipeline_of
from release_backends import FaultyServer, faulty_server
from routing_fixtures import InProcessRouter, embedded_router, free_port
from test_release_rollout import fast

from cdtui.engine.events import Notice, PhaseFinished, StageOutput, Status
from cdtui.engine.output import OutputSink
from cdtui.release.events import HealthSampled, ReleaseStateChanged, WeightChanged
from cdtui.release.rollout import State
from cdtui.release.routers import Weights
from cdtui.stages.release import RELEASE_STAGE


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[dict[str, object], InProcessRouter, FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port())
        with embedded_router(tmp_path, block) as router:
            yield block, router, green


async def test_a_release_phase_runs_behind_its_gate_with_events(setup, make_engine: EngineFactory):
    block, router, _ = setup
    block = {
        **block,
        "green": {"url": block["green"]["url"], "deploy": "echo deployed $CDTUI_COLOUR"},
    }  # type: ignore[index]
    pipeline = pipeline_of({"name": "Release", "gate": "confirm", "release": block})
    engine, rec = make_engine(pipeline)
    assert await engine.run() is Status.BLOCKED
    assert not rec.of(WeightChanged)
    engine, rec = make_engine(pipeline, approve=frozenset({"Release"}))
    assert await engine.run() is Status.SUCCEEDED
    assert [e.state for e in rec.of(ReleaseStateChanged)][-1] == "done"
    assert rec.of(HealthSampled) and rec.of(WeightChanged)[-1].green == 100
    # The deploy's output is streamed into the release stage's log, once (not echoed as notices).
    logged = "".join(e.text for e in rec.of(StageOutput) if e.stage == "release")
    assert "| deployed green\n" in logged
    assert not any("deployed green" in n.text for n in rec.of(Notice))
    assert await router.driver.get_weights() == Weights.ALL_GREEN


async def test_cancel_gives_all_traffic_back_to_live(setup, make_engine: EngineFactory):
    block, router, _ = setup
    pipeline = pipeline_of({"name": "Release", "release": {**block, "hold": 30}})
    engine, rec = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    while not [e for e in rec.of(WeightChanged) if e.applied]:
        await asyncio.sleep(0.01)
    engine.cancel("cancelled by the operator")
    assert await task is Status.CANCELLED
    finished = rec.of(PhaseFinished)[-1]
    assert finished.status is Status.CANCELLED and "back on live blue" in finished.reason
    assert await router.driver.get_weights() == Weights.ALL_BLUE


async def test_a_breach_fails_the_phase(setup, make_engine: EngineFactory):
    block, router, green = setup
    pipeline = pipeline_of({"name": "Release", "release": block})
    engine, rec = make_engine(pipeline)
    engine.subscribe(
        lambda e: (
            setattr(green, "fault", True)
            if isinstance(e, ReleaseStateChanged) and e.step == 50
            else None
        )
    )
    assert await engine.run() is Status.FAILED
    assert "idle green" in rec.of(PhaseFinished)[-1].reason
    assert await router.driver.get_weights() == Weights.ALL_BLUE


async def test_the_console_can_promote_the_running_release(setup, make_engine: EngineFactory):
    block, router, _ = setup
    pipeline = pipeline_of({"name": "Release", "release": {**block, "hold": 30}})
    engine, _ = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    while (rollout := engine.control_of(RELEASE_STAGE)) is None or rollout.state is not State.STEP:
        await asyncio.sleep(0.01)
    for _ in range(3):
        step = rollout.step
        rollout.promote()
        while rollout.step == step and not rollout.state.finished:
            await asyncio.sleep(0.01)
    assert await task is Status.SUCCEEDED
    assert engine.control_of(RELEASE_STAGE) is None
    assert await router.driver.get_weights() == Weights.ALL_GREEN


async def test_the_embedded_router_is_started_when_none_runs(
    tmp_path: Path, make_engine: EngineFactory
):
    """Embedded defaults: a project's first release needs no `cdtui router serve` beforehand."""
    from cdtui.release.routers.embedded import EmbeddedRouter

    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port())
        pipeline = pipeline_of({"name": "Release", "release": block})
        engine, rec = make_engine(pipeline)
        driver = EmbeddedRouter(engine.project_dir)
        try:
            assert await engine.run() is Status.SUCCEEDED
            assert "started the embedded router" in rec.output("release")  # said in its log
            assert await driver.get_weights() == Weights.ALL_GREEN  # it outlives the run
        finally:
            pid = await driver.stop()
            for _ in range(100):
                if pid is None or not Path(f"/proc/{pid}").exists():
                    break
                await asyncio.sleep(0.05)


async def test_the_release_is_a_stage_with_a_readable_log(setup, make_engine: EngineFactory):
    """Every step logs where developers read logs: the tree, `cdtui logs`, history."""
    from cdtui.engine.events import StageFinished, StageOutput, StageStarted
    from cdtui.stages.release import RELEASE_STAGE

    block, _, _ = setup
    block = {**block, "green": {"url": block["green"]["url"], "deploy": "echo deployed green"}}
    pipeline = pipeline_of({"name": "Release", "release": block})
    engine, rec = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    started, finished = rec.of(StageStarted)[0], rec.of(StageFinished)[-1]
    assert (started.phase, started.stage) == ("Release", RELEASE_STAGE)
    assert "steps 10,50,100%" in started.command
    assert finished.stage == RELEASE_STAGE and finished.status is Status.SUCCEEDED
    log = "".join(e.text for e in rec.of(StageOutput) if e.stage == RELEASE_STAGE)
    assert "deploying idle green: $ echo deployed green" in log and "deployed green\n" in log
    assert "weights     blue 50% / green 50% (read back)" in log
    # The verdict closes the log once: the state line says why, the last line only the status.
    assert log.splitlines()[-2].endswith(finished.reason) and "done" in log.splitlines()[-2]
    assert log.splitlines()[-1].endswith(" succeeded") and log.count(finished.reason) == 1


def test_a_colour_that_stays_down_is_told_a_few_times_then_once_when_it_is_back(
    setup, make_engine: EngineFactory
):
    from cdtui.engine.events import StageOutput
    from cdtui.stages.release import FAILED_CHECKS_TOLD, ReleaseLog

    block, _, _ = setup
    engine, rec = make_engine(pipeline_of({"name": "Release", "release": block}))
    sink = OutputSink(engine.bus.emit, engine.masker, 1, "Release", "release", 1)
    log = ReleaseLog(sink)
    for ok in [False] * 20 + [True, True]:
        log.event(HealthSampled(1, 0.0, "blue", ok, 1.0, 200 if ok else 0, "" if ok else "down"))
    sink.close()
    lines = "".join(e.text for e in rec.of(StageOutput)).splitlines()
    assert sum("unhealthy   blue: down" in line for line in lines) == FAILED_CHECKS_TOLD
    assert sum("still failing" in line for line in lines) == 1
    assert lines[-1].endswith("healthy     blue again after 20 failed check(s)")


def _alive(pid: int) -> bool:
    try:
        return (
            Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        )
    except OSError:
        return False


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_deploy_streams_live_and_its_timeout_or_cancel_ends_its_tree(
    setup, make_engine: EngineFactory, tmp_path: Path, how: str
):
    """The deploy runs through the local runner: its first line is in the release log while it
    still runs; a timeout or a cancel ends its whole process tree and leaves traffic alone."""
    from cdtui.engine.events import StageFinished

    block, router, _ = setup
    deploy = "echo first line; sleep 60 & echo $! > child.pid; wait"
    green = {"url": block["green"]["url"], "deploy": deploy, "deploy_timeout": "1s"}
    if how == "cancel":
        green["deploy_timeout"] = "60s"
    pipeline = pipeline_of({"name": "Release", "release": {**block, "green": green}})
    engine, rec = make_engine(pipeline, jobs=1)
    task = asyncio.create_task(engine.run())
    while "| first line" not in rec.output("release"):
        assert not task.done(), rec.output("release")
        await asyncio.sleep(0.01)
    assert not rec.of(StageFinished)  # the line came while the deploy still ran
    while not (tmp_path / "child.pid").exists():
        await asyncio.sleep(0.01)
    child = int((tmp_path / "child.pid").read_text())
    if how == "cancel":
        engine.cancel("cancelled by the operator")
    status = await task
    finished = rec.final("release")
    if how == "timeout":
        assert status is Status.FAILED and "timed out after 1s" in finished.reason
    else:
        assert status is Status.CANCELLED and "deploy of idle green cancelled" in finished.reason
    assert "traffic unchanged" in finished.reason
    for _ in range(100):
        if not _alive(child):
            break
        await asyncio.sleep(0.05)
    assert not _alive(child), "the deploy's child outlived its timeout/cancel"
    assert await router.driver.get_weights() == Weights.ALL_BLUE


async def test_a_first_release_onto_a_never_deployed_live_colour_shifts_at_once(
    make_engine: EngineFactory, tmp_path: Path
):
    """Blue was never deployed: no 90/10 split that sends nine users in ten to a dead colour."""
    with faulty_server("green") as green:
        dead = f"http://127.0.0.1:{free_port()}"
        block = fast(dead, green.url, free_port())
        with embedded_router(tmp_path, block) as router:
            engine, rec = make_engine(pipeline_of({"name": "Release", "release": block}))
            assert await engine.run() is Status.SUCCEEDED
            applied = [(e.blue, e.green) for e in rec.of(WeightChanged) if e.applied]
            assert applied == [(0, 100)]
            log = rec.output("release")
            assert "live blue does not answer" in log and "takes all traffic at once" in log
            done = [e for e in rec.of(ReleaseStateChanged) if e.state == "done"][-1]
            assert "no colour to roll back to" in done.reason
            assert "rollback is instant" not in done.reason
            assert await router.driver.get_weights() == Weights.ALL_GREEN
