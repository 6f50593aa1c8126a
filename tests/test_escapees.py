"""Escapees that leave the group *and* drop the marker (``setsid env -i``) are still ended:
cdtui is their subreaper, so their ancestry leads back to it (runners/proctree.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from cdtui.engine.events import Notice, StageFinished, Status
from cdtui.runners.proctree import RUNNING, reap_adopted
from tests.conftest import pipeline_of
from tests.test_process_tree import _alive

# The marker is gone (env -i), the group and session too (setsid); the shell that started the
# sleep exits at once, so the sleep is an orphan: re-parented to cdtui, not to the stage.
ESCAPE = "setsid env -i sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! > esc'"


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


async def _escapee(path: Path, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            pid = int(path.read_text())
            await asyncio.sleep(0.1)  # its shell has exited: the sleep is an orphan now
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.fixture
def escapees():
    """Whatever a failing test leaves alive is killed, so a red run leaves no sleep 300."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, 9)


@pytest.mark.parametrize("how", ["cancel", "timeout"])
async def test_a_cleaned_environment_double_fork_is_ended(make_engine, tmp_path, how, escapees):
    stage = {"name": "esc", "run": f"{ESCAPE}; sleep 60", "grace": "0.5s"}
    if how == "timeout":
        stage["timeout"] = "1s"
    engine, events = make_engine(pipeline_of({"name": "P", "stages": [stage]}))
    task = asyncio.create_task(engine.run())
    pid = await _escapee(tmp_path / "esc")
    escapees.append(pid)
    assert _alive(pid)
    assert b"CDTUI_STAGE_TOKEN" not in _environ(pid)  # the marker cannot find it
    assert os.getpgid(pid) != os.getpgid(os.getpid())
    assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
    if how == "cancel":
        engine.cancel("test")
    await asyncio.wait_for(task, 10)
    expected = Status.CANCELLED if how == "cancel" else Status.TIMED_OUT
    assert events.of(StageFinished)[0].status is expected
    # The stage is judged only after its tree is gone: no polling needed, and no zombie left.
    assert not _alive(pid)
    assert not Path(f"/proc/{pid}").exists()
    assert not RUNNING


async def test_a_cleaned_environment_leftover_is_ended_after_a_normal_exit(
    make_engine, tmp_path, escapees
):
    engine, events = make_engine(
        pipeline_of({"name": "P", "stages": [{"name": "esc", "run": f"{ESCAPE}; echo done"}]})
    )
    assert await asyncio.wait_for(engine.run(), 10) is Status.SUCCEEDED
    pid = int((tmp_path / "esc").read_text())
    escapees.append(pid)
    assert not _alive(pid)
    assert any(f"({pid})" in n.text and "leftover" in n.text for n in events.of(Notice))


async def test_keep_children_keeps_a_cleaned_environment_daemon(make_engine, tmp_path, escapees):
    stage = {"name": "esc", "run": f"{ESCAPE}; echo done", "keep_children": True}
    engine, events = make_engine(pipeline_of({"name": "P", "stages": [stage]}))
    assert await asyncio.wait_for(engine.run(), 10) is Status.SUCCEEDED
    pid = int((tmp_path / "esc").read_text())
    escapees.append(pid)
    assert _alive(pid)
    assert not [n for n in events.of(Notice) if "leftover" in n.text]
    os.kill(pid, 9)
    deadline = time.monotonic() + 5  # we are its subreaper now: its exit status is ours to take
    while pid not in reap_adopted() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not Path(f"/proc/{pid}").exists()


async def test_an_orphan_of_cdtui_itself_is_not_charged_to_a_stage(make_engine, tmp_path, escapees):
    """The embedded router double-forks from cdtui while a stage may run: cancel spares it."""
    stage = {"name": "s", "run": "echo $$ > pid; sleep 60", "grace": "0.5s"}
    engine, _ = make_engine(pipeline_of({"name": "P", "stages": [stage]}))
    task = asyncio.create_task(engine.run())
    await _escapee(tmp_path / "pid")
    helper = subprocess.run(
        ["setsid", "sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    daemon = int(helper.stdout)
    escapees.append(daemon)
    engine.cancel("test")
    await asyncio.wait_for(task, 10)
    assert _alive(daemon)


# A daemon that keeps the marker (setsid without env -i), as the sample's staging server does.
DAEMON = "setsid sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {out}'"


@pytest.mark.parametrize("script", [ESCAPE, DAEMON.format(out="esc")], ids=["no-marker", "marker"])
async def test_a_kept_daemon_outlives_a_stage_that_was_running_when_it_was_adopted(
    make_engine, tmp_path, escapees, script
):
    """start-staging (keep_children) leaves a server running while configure-staging, begun
    earlier, still runs: the server is not configure-staging's leftover when that ends."""
    stages = [
        {"name": "long", "run": "sleep 1.5; echo done"},
        {"name": "daemon", "run": f"sleep 0.3; {script}; echo started", "keep_children": True},
    ]
    engine, events = make_engine(pipeline_of({"name": "P", "stages": stages}))
    assert await asyncio.wait_for(engine.run(), 15) is Status.SUCCEEDED
    pid = int((tmp_path / "esc").read_text())
    escapees.append(pid)
    assert _alive(pid), [n.text for n in events.of(Notice)]
    assert not [n for n in events.of(Notice) if "leftover" in n.text]
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while pid not in reap_adopted() and _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
