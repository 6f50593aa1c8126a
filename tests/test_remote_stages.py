"""Stages with ``on:`` run through the engine on a real sshd fleet: fan-out, batches, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdtui.engine.events import Notice, StageOutput, StageStarted, Status
from tests.conftest import pipeline_of
from tests.sshd import Fleet, running_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path / "fleet", 3) as servers:
        yield servers


def inventory(fleet: Fleet, **extra_tags: list[str]) -> dict:
    hosts = {}
    for name, host in fleet.hosts().items():
        data = host.model_dump()
        data["tags"] = ["web", *extra_tags.get(name, [])]
        hosts[name] = data
    return hosts


async def test_one_host_streams_output_with_its_host(make_engine, fleet: Fleet):
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {
                    "name": "hello",
                    "run": 'echo "on $(hostname) as $CDTUI_STAGE: $GREETING"',
                    "env": {"GREETING": "$(touch /tmp/pwned) hi"},
                    "on": "host0",
                },
            ],
        },
        hosts=inventory(fleet),
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert events.output("hello").endswith("as hello: $(touch /tmp/pwned) hi\n")
    assert {e.host for e in events.of(StageOutput)} == {"host0"}
    assert events.of(StageStarted)[0].host == "host0"


async def test_fan_out_prefixes_every_line_with_its_host(make_engine, fleet: Fleet):
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {"name": "all", "run": "echo one; printf 'two'", "on": "tag:web"},
            ],
        },
        hosts=inventory(fleet),
    )
    engine, events = make_engine(pipeline)
    began = time.monotonic()
    assert await engine.run() is Status.SUCCEEDED
    assert time.monotonic() - began < 30  # a hang guard: ~0.3 s; one connect timeout is 10 s
    lines = sorted(events.output("all").splitlines())
    assert lines == sorted(f"host{i} | {word}" for i in range(3) for word in ("one", "two"))
    assert events.of(StageStarted)[0].host == "3 hosts"


async def test_rolling_batches_stop_after_max_failures(make_engine, fleet: Fleet, tmp_path: Path):
    marker = tmp_path / "ran"
    hosts = inventory(fleet)
    fail_on = tmp_path / "fail"  # names the host that fails
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {
                    "name": "roll",
                    "run": f'echo "$(date +%s%N)" >> {marker}.$CDTUI_HOST; '
                    f'test "$(cat {fail_on})" != "$CDTUI_HOST"',
                    "on": ["host0", "host1", "host2"],
                    "strategy": {"batch": 1, "max_failures": 0},
                },
            ],
        },
        hosts=hosts,
    )
    fail_on.write_text("host1")
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    final = events.final("roll")
    assert "host1" in final.reason and "not run after 1 failure(s): host2" in final.reason
    assert Path(f"{marker}.host0").exists() and Path(f"{marker}.host1").exists()
    assert not Path(f"{marker}.host2").exists()
    assert any(n.level == "error" and n.text.startswith("host1") for n in events.of(Notice))


async def test_max_failures_tolerates_a_failing_host(make_engine, fleet: Fleet, tmp_path: Path):
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {
                    "name": "tolerant",
                    "run": 'test "$CDTUI_HOST" != host2',
                    "on": "tag:web",
                    "strategy": {"parallel": 2, "max_failures": 1},
                },
            ],
        },
        hosts=inventory(fleet),
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert "host2" in events.final("tolerant").reason


async def test_unreachable_host_fails_the_stage_in_one_line(make_engine, fleet: Fleet):
    hosts = inventory(fleet)
    fleet[1].stop()
    pipeline = pipeline_of(
        {"name": "Deploy", "stages": [{"name": "down", "run": "true", "on": "host1"}]},
        hosts=hosts,
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    reason = events.final("down").reason
    assert "host1" in reason and "\n" not in reason and "Traceback" not in reason


async def test_cancel_ends_every_host(make_engine, fleet: Fleet, tmp_path: Path):
    pids = tmp_path / "pids"
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {
                    "name": "long",
                    "run": f"echo $$ >> {pids}; sleep 30",
                    "on": "tag:web",
                    "grace": "1s",
                },
            ],
        },
        hosts=inventory(fleet),
    )
    engine, _events = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    deadline = time.monotonic() + 15
    while (not pids.exists() or len(pids.read_text().split()) < 3) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    engine.cancel("test")
    assert await asyncio.wait_for(task, 15) is Status.CANCELLED
    await asyncio.sleep(0.3)
    for pid in map(int, pids.read_text().split()):
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


async def test_upload_copies_project_files_before_the_command(
    make_engine, fleet: Fleet, tmp_path: Path
):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app.pyz").write_bytes(b"payload" * 1000)
    remote = tmp_path / "remote"
    remote.mkdir()
    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {
                    "name": "ship",
                    "run": "sha256sum app.pyz",
                    "on": "host0",
                    "cwd": str(remote),
                    "upload": ["dist/*.pyz"],
                },
            ],
        },
        hosts=inventory(fleet),
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert (remote / "app.pyz").read_bytes() == b"payload" * 1000
    assert any("uploaded and verified" in n.text for n in events.of(Notice))


async def test_headless_lines_name_their_host(make_engine, fleet: Fleet):
    import io

    from cdtui.headless import HeadlessRenderer

    pipeline = pipeline_of(
        {
            "name": "Deploy",
            "stages": [
                {"name": "one", "run": "echo single", "on": "host0"},
                {"name": "many", "run": "echo fanned", "on": ["host1", "host2"]},
            ],
        },
        hosts=inventory(fleet),
    )
    engine, _ = make_engine(pipeline)
    out = io.StringIO()
    renderer = HeadlessRenderer(out, color=False)
    engine.subscribe(renderer)
    assert await engine.run() is Status.SUCCEEDED
    lines = out.getvalue().splitlines()
    assert any(line.startswith("one@host0") and line.endswith("| single") for line in lines)
    assert any(line.startswith("many") and line.endswith("| host1 | fanned") for line in lines)
