"""``cdtui run`` end to end in a real subprocess: plan, output, summary, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdtui.store import RunStore

CDTUI = [sys.executable, "-m", "cdtui.cli"]


def write(project: Path, text: str) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    path = project / "cdtui.yaml"
    path.write_text(text)
    return path


def cdtui(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [*CDTUI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


PIPELINE = """\
project: demo
phases:
  - name: Build
    stages:
      - {name: compile, run: "echo compiled; printf 'no newline at end'"}
      - {name: test, run: "echo tested >&2", needs: [compile]}
  - name: Ship
    gate: confirm
    stages:
      - {name: deploy, run: echo deployed}
"""


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path):
    write(tmp_path, PIPELINE)
    result = cdtui("run", "--dry-run", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Build" in out and "step 2" in out and "gate: confirm" in out and "--approve" in out
    assert not (tmp_path / ".cdtui").exists()


def test_headless_run_prefixes_lines_and_stops_at_an_unapproved_gate(tmp_path: Path):
    write(tmp_path, PIPELINE)
    result = cdtui("run", "--headless", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("compile") and line.endswith("| compiled") for line in lines)
    assert any(line.endswith("| no newline at end") for line in lines)
    assert any(line.startswith("test") and line.endswith("| tested") for line in lines)
    assert "Summary" in result.stdout and "deploy" not in "".join(
        line for line in lines if "|" in line
    )
    assert "--approve" in result.stderr


def test_headless_run_with_approval_succeeds_and_is_recorded(tmp_path: Path):
    write(tmp_path, PIPELINE)
    result = cdtui("run", "--headless", "--approve", "Ship", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    store = RunStore(tmp_path)
    run = store.run(store.latest_run_id())
    assert run.status == "SUCCEEDED"
    assert [phase for phase, _, _ in store.approvals(run.id)] == ["Ship"]
    history = cdtui("history", str(tmp_path), cwd=tmp_path)
    assert history.returncode == 0 and "SUCCEEDED" in history.stdout
    logs = cdtui("logs", "last", "compile", str(tmp_path), cwd=tmp_path)
    assert logs.stdout.startswith("compiled\nno newline at end")


def test_failure_exits_1_and_selection_runs_one_stage(tmp_path: Path):
    write(
        tmp_path,
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: ok, run: 'true'}\n      - {name: bad, run: 'exit 4'}\n",
    )
    assert cdtui("run", "--headless", str(tmp_path), cwd=tmp_path).returncode == 1
    only = cdtui("run", "--headless", "--stage", "ok", str(tmp_path), cwd=tmp_path)
    assert only.returncode == 0, only.stdout
    unknown = cdtui("run", "--headless", "--stage", "bda", str(tmp_path), cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean 'bad'" in unknown.stderr


def test_invalid_file_gives_located_errors_not_a_traceback(tmp_path: Path):
    write(tmp_path, "project: demo\nphases:\n  - name: P\n    stages:\n      - {name: a, rn: x}\n")
    for args in (("validate",), ("run", "--headless"), ("run", "--dry-run")):
        result = cdtui(*args, str(tmp_path), cwd=tmp_path)
        assert result.returncode in (1, 2), args
        assert "cdtui.yaml:5" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_cancels_cleanly_and_records_the_run(tmp_path: Path):
    write(
        tmp_path,
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: long, run: 'echo $$ > pid; sleep 60', grace: 2s}\n",
    )
    proc = subprocess.Popen(
        [*CDTUI, "run", "--headless", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()
    store = RunStore(tmp_path)
    assert store.run(store.latest_run_id()).status == "CANCELLED"


@pytest.mark.parametrize("signame", ["SIGKILL"])
def test_killed_run_is_interrupted_at_next_start(tmp_path: Path, signame: str):
    write(
        tmp_path,
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: long, run: 'echo $$ > pid; echo started; sleep 60'}\n",
    )
    proc = subprocess.Popen(
        [*CDTUI, "run", "--headless", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if b"started" in line:
            break
    proc.kill()
    proc.wait()
    result = cdtui("history", str(tmp_path), cwd=tmp_path)
    assert "INTERRUPTED" in result.stdout and "RUNNING" not in result.stdout
    os.killpg(int((tmp_path / "pid").read_text()), signal.SIGKILL)  # the orphaned stage


def test_a_release_phase_counts_as_its_stage_everywhere(tmp_path: Path):
    """validate, the gate's `next:` and the summary all see the release as the stage `release`."""
    (tmp_path / "cdtui.yaml").write_text(
        "project: shop\n"
        "phases:\n"
        "  - name: Build\n"
        "    stages:\n"
        "      - {name: build, run: 'true'}\n"
        "  - name: Release\n"
        "    gate: confirm\n"
        "    release:\n"
        "      blue: {url: 'http://127.0.0.1:9'}\n"
        "      green: {url: 'http://127.0.0.1:10'}\n"
    )
    valid = subprocess.run(
        [sys.executable, "-m", "cdtui.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert valid.returncode == 0 and "(2 phases, 2 stages)" in valid.stdout, valid.stdout
    blocked = subprocess.run(
        [sys.executable, "-m", "cdtui.cli", "run", "--headless", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert blocked.returncode == 3, blocked.stdout + blocked.stderr
    assert "waits for approval (next: release)" in blocked.stdout  # was an empty `next: `
