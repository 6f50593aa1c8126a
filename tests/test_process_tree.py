"""Local stages end as a whole tree: SIGTERM-ignorers, pipe-holding children, setsid escapees."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from cdtui.engine.events import Notice, StageStarted, Status
from cdtui.runners.local import LocalProcess
from cdtui.runners.proctree import stage_processes
from tests.conftest import pipeline_of


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pids_in(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def _wait_for_file(path: Path, lines: int = 1, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) >= lines:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never got {lines} line(s)")


async def test_cancel_kills_a_stage_that_ignores_sigterm_after_grace(make_engine, tmp_path):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "stubborn",
                    "run": "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ >> pids; sleep 30' & "
                    "echo $$ >> pids; wait",
                    "grace": "0.5s",
                }
            ],
        }
    )
    engine, _events = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    await _wait_for_file(tmp_path / "pids", 2)
    began = time.monotonic()
    engine.cancel("test")
    assert await asyncio.wait_for(task, 5) is Status.CANCELLED
    took = time.monotonic() - began
    # killed once grace ran out, not at the stage's sleep 30 (grace + 1 s: bench/cancel_cleanup.py)
    assert 0.5 <= took < 0.5 + 4.0, took
    assert not [p for p in _pids_in(tmp_path / "pids") if _alive(p)]


async def test_setsid_escapee_is_found_by_marker_and_ended(make_engine, tmp_path):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "escape",
                    "run": "setsid sh -c 'echo $$ >> pids; sleep 30' </dev/null >/dev/null 2>&1 & "
                    "sleep 30",
                    "grace": "1s",
                }
            ],
        }
    )
    engine, _ = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    await _wait_for_file(tmp_path / "pids")
    escapee = _pids_in(tmp_path / "pids")[0]
    assert os.getpgid(escapee) != os.getpgid(os.getpid())
    engine.cancel("test")
    assert await asyncio.wait_for(task, 5) is Status.CANCELLED
    deadline = time.monotonic() + 10.0  # it sleeps 30 s: gone before means it was ended
    while _alive(escapee) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(escapee)


async def test_grandchild_holding_stdout_does_not_hang_the_stage(make_engine, tmp_path):
    """The stage ends when its main process does; the leftover is ended and reported."""
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [{"name": "fork", "run": "(echo $$ > /dev/null; sleep 30) & echo done"}],
        }
    )
    engine, events = make_engine(pipeline)
    began = time.monotonic()
    assert await asyncio.wait_for(engine.run(), 10) is Status.SUCCEEDED
    assert time.monotonic() - began < 8  # not held until the grandchild's sleep 30 ends
    assert events.output("fork") == "done\n"
    assert any("leftover process" in n.text for n in events.of(Notice))


async def test_keep_children_leaves_a_daemon_running_without_hanging(make_engine, tmp_path):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "daemon",
                    "run": "sh -c 'echo $$ > pid; sleep 30' & echo started",
                    "keep_children": True,
                }
            ],
        }
    )
    engine, _events = make_engine(pipeline)
    began = time.monotonic()
    assert await asyncio.wait_for(engine.run(), 10) is Status.SUCCEEDED
    assert time.monotonic() - began < 8  # not held until the daemon's sleep 30 ends
    pid = _pids_in(tmp_path / "pid")[0]
    try:
        assert _alive(pid)
    finally:
        os.kill(pid, 9)


async def test_partial_line_without_newline_is_delivered(tmp_path):
    got: list[tuple[str, bytes]] = []
    process = LocalProcess(
        ["sh", "-c", "printf 'Downloading...'; sleep 0.5; printf ' done'"],
        cwd=str(tmp_path),
        env=dict(os.environ),
        on_output=lambda stream, data: got.append((stream, data)),
    )
    process.start()
    waiter = asyncio.create_task(process.wait())
    await asyncio.sleep(0.3)
    assert got == [("stdout", b"Downloading...")]  # before the process wrote more or exited
    result = await waiter
    assert result.status is Status.SUCCEEDED
    assert b"".join(d for _, d in got) == b"Downloading... done"


async def test_no_process_of_a_cancelled_stage_survives(make_engine, tmp_path):
    """A busy tree (nested shells, pipes, background jobs) is gone (grace + 1 s: the bench)."""
    script = (
        "for i in 1 2 3; do (sleep 30 | cat) & done; "
        "bash -c 'sleep 30 & wait' & yes > /dev/null & echo ready > ready; wait"
    )
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": "tree", "run": script, "grace": "1s"}]}
    )
    engine, events = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    await _wait_for_file(tmp_path / "ready")
    await asyncio.sleep(0.1)
    started = events.of(StageStarted)[0]
    token_pids = stage_processes(started.pid, "")  # the process group alone
    assert len(token_pids) >= 8
    engine.cancel("test")
    await asyncio.wait_for(task, 5)
    deadline = time.monotonic() + 10.0  # its sleeps last 30 s and `yes` forever
    while any(_alive(p) for p in token_pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not [p for p in token_pids if _alive(p)]
