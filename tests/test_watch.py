"""``cdtui watch`` end to end: a real process watching a real tree, edits made by the test."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CDTUI = [sys.executable, "-m", "cdtui.cli"]
RUN_HEADER = "━━ watch"


class Watching:
    """A ``cdtui watch`` subprocess whose output lines are read on a thread, with timestamps."""

    def __init__(self, project: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CDTUI, "watch", str(project), "--debounce", "50ms", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float = 10.0) -> float:
        """When a line containing ``text`` arrived (monotonic); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(
                    f"no line with {text!r} in {timeout}s; output:\n" + "\n".join(self.seen)
                )
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return at

    def expect(self, *texts: str) -> None:
        """Lines containing each of ``texts``, in this order."""
        for text in texts:
            self.wait_for(text)

    def quiet_for(self, seconds: float, text: str = RUN_HEADER) -> None:
        """No line with ``text`` for ``seconds`` (other lines are kept)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                _, line = self.lines.get(timeout=left)
            except queue.Empty:
                return
            self.seen.append(line)
            assert text not in line, "\n".join(self.seen)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def project_with(tmp_path: Path, pipeline: str, files: dict[str, str] | None = None) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "cdtui.yaml").write_text(pipeline)
    for name, text in (files or {}).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


QUICK = """\
project: demo
phases:
  - name: Commit
    stages:
      - {name: unit, run: "echo testing $(cat src.txt)"}
  - name: Acceptance
    stages:
      - {name: slow, run: "sleep 30"}
"""


@pytest.fixture
def watching():
    started: list[Watching] = []

    def start(project: Path, *args: str) -> Watching:
        started.append(Watching(project, *args))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def edited_mid_run(tmp_path: Path, watching, pipeline: str, started: str, *args: str) -> Watching:
    """A watch of ``pipeline`` whose src.txt is saved once the line ``started`` is out."""
    project = project_with(tmp_path, pipeline, {"src.txt": "v1"})
    watch = watching(project, *args)
    watch.wait_for(started)
    (project / "src.txt").write_text("v2")
    return watch


def test_an_edit_reruns_the_commit_phase_within_two_seconds(tmp_path: Path, watching):
    project = project_with(tmp_path, QUICK, {"src.txt": "v1"})
    watch = watching(project)
    watch.expect(
        "unit         | testing v1",
        "watching for changes",
    )
    saved = time.monotonic()
    (project / "src.txt").write_text("v2")
    header = watch.wait_for("src.txt → run Commit")
    output = watch.wait_for("unit         | testing v2")
    assert header - saved < 2.0 and output - saved < 2.0
    watch.wait_for("✓ run 2 succeeded")
    assert not any("slow" in line for line in watch.seen), "only the Commit phase runs"
    assert watch.stop() == 130


def test_a_second_edit_during_a_run_cancels_and_restarts_it(tmp_path: Path, watching):
    pipeline = """\
project: demo
phases:
  - name: Commit
    stages:
      - {name: unit, run: "echo start $(cat src.txt); sleep 20; echo never"}
"""
    watch = edited_mid_run(tmp_path, watching, pipeline, "unit         | start v1")
    watch.expect(
        "unit cancelled",
        "run 1 cancelled: restarted: src.txt changed",
        "src.txt → restart Commit",
        "unit         | start v2",
    )
    assert not any("| never" in line for line in watch.seen)


def test_state_dir_git_build_outputs_and_gitignored_paths_trigger_nothing(tmp_path: Path, watching):
    files = {
        "src.txt": "v1",
        ".gitignore": "generated/\n*.log\n!keep.log\n",
        "sub/.gitignore": "local.txt\n",
        ".git/HEAD": "ref: refs/heads/main\n",
    }
    pipeline = QUICK + 'watch: {ignore: ["notes/"]}\n'
    project = project_with(tmp_path, pipeline, files)
    watch = watching(project)
    watch.wait_for("watching for changes")
    for name in (
        "notes/todo.md",  # the pipeline's own watch: ignore:
        ".cdtui/runs-extra.txt",  # the state dir (CDTUI_STATE_DIR=.cdtui in tests)
        ".git/index",
        "dist/shop.pyz",
        "__pycache__/x.pyc",
        "generated/out.txt",
        "debug.log",
        "sub/local.txt",
        "src.txt.swp",
    ):
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("changed")
    watch.quiet_for(1.0)
    assert watch.proc.poll() is None
    (project / "keep.log").write_text("re-included by !keep.log")
    watch.wait_for("keep.log → run Commit")


def test_a_queued_stage_finishes_before_the_restart(tmp_path: Path, watching):
    pipeline = """\
project: demo
phases:
  - name: Commit
    stages:
      - {name: migrate, run: "echo migrating; sleep 1.5; echo migrated", watch: queue}
      - {name: unit, run: "sleep 20"}
"""
    watch = edited_mid_run(tmp_path, watching, pipeline, "migrate      | migrating")
    watch.expect(
        "restarting once migrate finishes (watch: queue)",
        "migrate      | migrated",
        "✓ migrate succeeded",
        "run 1 cancelled: restarted: src.txt changed",
        "src.txt → restart Commit",
    )


def test_a_deploying_phase_is_never_restarted_the_change_runs_next(tmp_path: Path, watching):
    pipeline = """\
project: demo
phases:
  - name: Staging
    stages:
      - {name: start-server, run: "echo deploying; sleep 1.5; echo deployed", keep_children: true}
"""
    watch = edited_mid_run(
        tmp_path, watching, pipeline, "start-server | deploying", "--phase", "Staging"
    )
    watch.expect(
        "runs next (phase Staging: its stage start-server leaves a service running)",
        "start-server | deployed",
        "✓ run 1 succeeded",
        "src.txt → run Staging",
    )


def test_a_broken_pipeline_file_is_reported_and_the_watch_goes_on(tmp_path: Path, watching):
    project = project_with(tmp_path, QUICK, {"src.txt": "v1"})
    watch = watching(project)
    watch.wait_for("watching for changes")
    (project / "cdtui.yaml").write_text(QUICK.replace("stages:", "stagez:", 1))
    watch.wait_for("stagez")
    watch.quiet_for(0.5)
    (project / "cdtui.yaml").write_text(QUICK.replace("testing", "fixed"))
    watch.wait_for("unit         | fixed v1")


def test_polling_sees_changes_where_inotify_is_not_used(tmp_path: Path, watching):
    project = project_with(tmp_path, QUICK, {"src.txt": "v1"})
    watch = watching(project, "--poll")
    watch.wait_for("watching for changes")
    (project / "src.txt").write_text("v2 polled")
    watch.wait_for("unit         | testing v2 polled")


def test_watch_refuses_an_unknown_phase(tmp_path: Path):
    project = project_with(tmp_path, QUICK)
    done = subprocess.run(
        [*CDTUI, "watch", str(project), "--phase", "Nope"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Nope" in done.stderr


def test_a_save_by_rename_names_the_file_not_the_editors_temporary(tmp_path: Path, watching):
    project = project_with(tmp_path, QUICK, {"src.txt": "v1"})
    watch = watching(project)
    watch.wait_for("watching for changes")
    temporary = project / ".src.txt.tmp1234"  # as sed -i and many editors save
    temporary.write_text("v2")
    os.replace(temporary, project / "src.txt")
    watch.wait_for("→ run Commit")
    assert watch.seen[-1].endswith(": src.txt → run Commit"), watch.seen[-1]


def test_watch_refuses_a_gated_phase(tmp_path: Path):
    gated = QUICK.replace("  - name: Acceptance\n", "  - name: Acceptance\n    gate: confirm\n")
    project = project_with(tmp_path, gated)
    done = subprocess.run(
        [*CDTUI, "watch", str(project), "--phase", "Acceptance"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "phase 'Acceptance' is gated: a watch never approves one" in done.stderr
