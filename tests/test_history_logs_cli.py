"""`cdtui history` and `cdtui logs`: what an operator reads about past and running runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cdtui.commands.history import history
from cdtui.commands.logs import logs
from cdtui.engine.events import (
    RunFinished,
    RunStarted,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
)
from cdtui.store import RunStore, liveness
from cdtui.store.db import RunDB


def out(run_id: int, phase: str, stage: str, text: str, attempt: int = 1, stream: str = "stdout"):
    return StageOutput(run_id, time.time(), phase, stage, attempt, stream, text)


def two_stage_run(store: RunStore, status: Status = Status.FAILED) -> int:
    rid = store.begin_run("shop", "alice", "all")
    t0 = time.time()
    for event in (
        RunStarted(rid, t0, "shop", ("Build",), "alice"),
        StageStarted(rid, t0, "Build", "lint", 1, "ruff check ."),
        out(rid, "Build", "lint", "All checks passed!\n"),
        StageFinished(rid, t0 + 2, "Build", "lint", 1, Status.SUCCEEDED, 0),
        StageStarted(rid, t0 + 2, "Build", "unit", 1, "pytest"),
        out(rid, "Build", "unit", "1 failed\n", stream="stderr"),
        StageFinished(rid, t0 + 3, "Build", "unit", 1, Status.FAILED, 1, will_retry=True),
        StageStarted(rid, t0 + 4, "Build", "unit", 2, "pytest"),
        out(rid, "Build", "unit", "2 passed\nno newline at end", attempt=2),
        StageFinished(rid, t0 + 5, "Build", "unit", 2, status, 1),
        RunFinished(rid, t0 + 65, status, "unit failed" if status is Status.FAILED else ""),
    ):
        store.record(event)
    return rid


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with RunStore(tmp_path) as store:
        two_stage_run(store, Status.FAILED)
        two_stage_run(store, Status.SUCCEEDED)
    return tmp_path


def invoke(command, *args: str) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def test_history_lists_recent_runs_newest_first(project: Path):
    result = invoke(history, project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "status", "started"]
    assert lines[1].split()[:2] == ["2", "SUCCEEDED"]
    assert lines[2].split()[:2] == ["1", "FAILED"]
    assert "1m05s" in lines[1] and "alice" in lines[1] and "2 ok" in lines[1]
    assert "unit failed" in lines[2]


def test_history_json_and_limit(project: Path):
    result = invoke(history, project, "--json", "--limit", "1")
    [run] = json.loads(result.stdout)
    assert (run["id"], run["status"], run["stages"]) == (2, "SUCCEEDED", {"SUCCEEDED": 2})
    assert run["duration"] == pytest.approx(65, abs=1)


def test_history_of_a_project_that_never_ran_creates_nothing(tmp_path: Path):
    assert invoke(history, tmp_path).stdout == f"No runs recorded in {tmp_path} yet.\n"
    assert invoke(history, tmp_path, "--json").stdout == "[]\n"
    assert not (tmp_path / ".cdtui").exists()


def test_history_marks_runs_whose_driver_died(project: Path):
    me = liveness.current()
    db = RunDB(project / ".cdtui" / "runs.db")
    rid = db.insert_run("shop", "bob", "all", time.time(), replace(me, start_ticks=-1))
    db.insert_run_state(rid, Status.RUNNING, time.time())
    db.close()
    result = invoke(history, project)
    assert f"{rid}  INTERRUPTED" in result.stdout
    [run] = [r for r in json.loads(invoke(history, project, "--json").stdout) if r["id"] == rid]
    assert run["reason"] == f"cdtui process {me.pid} died (its pid was reused)"


def test_logs_of_a_run_prefix_every_line_with_its_stage(project: Path):
    result = invoke(logs, "1", project)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "lint| All checks passed!\nunit| 1 failed\nunit#2| 2 passed\nunit#2| no newline at end\n"
    )


def test_logs_of_one_stage_print_the_latest_attempt_as_is(project: Path):
    assert invoke(logs, "last", "unit", project).stdout == "2 passed\nno newline at end"
    assert invoke(logs, "1", "unit", project, "--attempt", "1").stdout == "1 failed\n"
    assert invoke(logs, "1", "UNIT", project, "--phase", "build").stdout.startswith("2 passed")


def test_logs_accepts_a_directory_in_place_of_the_stage(project: Path):
    assert invoke(logs, "1", project).stdout.startswith("lint| ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9"], "no run 9 in"),
        (["first"], "RUN must be a run number or 'last'"),
        (["1", "deploy"], "run 1 has no stage 'deploy' (stages: lint, unit)"),
        (["1", "--phase", "Ship"], "run 1 has no phase 'Ship' (phases: Build)"),
        (["1", "unit", "--attempt", "7"], "run 1 has no attempt 7"),
    ],
)
def test_logs_errors_are_one_line_and_exit_2(project: Path, args: list[str], message: str):
    if len(args) > 1 and not args[1].startswith("-"):
        args = [args[0], args[1], str(project), *args[2:]]
    else:
        args = [args[0], str(project), *args[1:]]
    result = CliRunner().invoke(logs, args)
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_logs_in_a_project_that_never_ran(tmp_path: Path):
    result = CliRunner().invoke(logs, ["last", str(tmp_path)])
    assert result.exit_code == 2 and "no runs recorded" in result.stderr


def run_in_thread(fn, *args) -> tuple[threading.Thread, list]:
    box: list = []
    thread = threading.Thread(target=lambda: box.append(fn(*args)), daemon=True)
    thread.start()
    return thread, box


def test_follow_prints_output_as_it_arrives_and_stops_when_the_run_finishes(tmp_path: Path):
    store = RunStore(tmp_path)
    rid = store.begin_run("shop", "alice", "all")
    store.record(RunStarted(rid, time.time(), "shop", ("Build",), "alice"))
    store.record(StageStarted(rid, time.time(), "Build", "unit", 1, "pytest"))
    store.record(out(rid, "Build", "unit", "before\npart"))
    store.flush()
    follower, box = run_in_thread(invoke, logs, "last", tmp_path, "--follow")
    time.sleep(0.5)
    store.record(out(rid, "Build", "unit", "ial\n"))
    store.record(StageFinished(rid, time.time(), "Build", "unit", 1, Status.SUCCEEDED, 0))
    store.record(StageStarted(rid, time.time(), "Build", "late", 1, "echo"))
    store.record(out(rid, "Build", "late", "tail without newline"))
    time.sleep(0.5)
    store.record(RunFinished(rid, time.time(), Status.SUCCEEDED))
    store.close()
    follower.join(timeout=10)
    assert not follower.is_alive(), "logs --follow did not stop after the run finished"
    [result] = box
    assert result.exit_code == 0
    assert result.stdout == "unit| before\nunit| partial\nlate| tail without newline\n"
    assert result.stderr == f"run {rid} succeeded\n"


def test_follow_of_one_stage_waits_for_it_to_start(tmp_path: Path):
    store = RunStore(tmp_path)
    rid = store.begin_run("shop", "alice", "all")
    follower, box = run_in_thread(invoke, logs, "last", "deploy", tmp_path, "-f")
    time.sleep(0.3)
    store.record(StageStarted(rid, time.time(), "Ship", "deploy", 1, "./deploy.sh"))
    store.record(out(rid, "Ship", "deploy", "rolling\n"))
    store.record(StageFinished(rid, time.time(), "Ship", "deploy", 1, Status.SUCCEEDED, 0))
    store.record(RunFinished(rid, time.time(), Status.SUCCEEDED))
    store.close()
    follower.join(timeout=10)
    assert not follower.is_alive()
    assert box[0].stdout == "rolling\n"


def test_follow_stops_when_the_driving_process_dies(tmp_path: Path):
    child = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from cdtui.engine.events import StageOutput, StageStarted
        from cdtui.store import RunStore
        store = RunStore(Path(sys.argv[1]))
        rid = store.begin_run("shop", "ci", "all")
        store.record(StageStarted(rid, time.time(), "Build", "unit", 1, "pytest"))
        store.record(StageOutput(rid, time.time(), "Build", "unit", 1, "stdout", "alive\\n"))
        store.flush()
        print(rid, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        proc.stdout.readline()
        follower, box = run_in_thread(invoke, logs, "last", tmp_path, "--follow")
        time.sleep(0.5)
        assert follower.is_alive()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        follower.join(timeout=10)
        assert not follower.is_alive(), "logs --follow kept following a dead run"
        assert box[0].stdout == "unit| alive\n"
        assert box[0].stderr.strip().endswith("interrupted")
    finally:
        proc.kill()
        proc.wait()
