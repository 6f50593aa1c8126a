"""One snapshot per visual state of the console, from stored runs with fixed times."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cdtui.engine.events import (
    GateWaiting,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
)
from cdtui.store import RunStore
from cdtui.ui import clock
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.confirm import ConfirmModal
from cdtui.ui.screens.main import MainScreen

SIZE = (100, 30)
T0 = 1_800_000_000.0

PIPELINE = """\
project: shop
phases:
  - name: Commit
    stages:
      - {name: unit, run: python -m unittest}
  - name: Acceptance
    stages:
      - {name: lint, run: python scripts/lint.py}
      - {name: bdd, run: python -m unittest discover -s tests/bdd}
      - {name: package, run: python package.py, needs: [lint, bdd]}
  - name: Release
    gate: confirm
    stages:
      - {name: announce, run: echo release}
"""

BDD_LOG = (
    "Scenario: a shopper lists products\n"
    "  Given the shop is running ... ok\n"
    "  When they GET /api/products ... ok\n"
    "\x1b[31mERROR: expected 5 products, got 4\x1b[0m\n"
    "Traceback (most recent call last):\n"
    '  File "tests/bdd/test_catalogue.py", line 42, in test_lists\n'
    "AssertionError: 4 != 5\n"
)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: T0 + 20.0)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_project(tmp_path: Path) -> Path:
    (tmp_path / "cdtui.yaml").write_text(PIPELINE)
    return tmp_path


def stage(
    store: RunStore,
    run: int,
    phase: str,
    name: str,
    start: float,
    end: float | None,
    status: Status = Status.SUCCEEDED,
    output: str = "",
    reason: str = "",
) -> None:
    store.record(StageStarted(run, T0 + start, phase, name, 1, f"run {name}"))
    if output:
        store.record(StageOutput(run, T0 + start + 0.1, phase, name, 1, "stdout", output))
    if end is not None:
        code = 0 if status is Status.SUCCEEDED else 1
        store.record(
            StageFinished(run, T0 + end, phase, name, 1, status, code, reason, end - start)
        )


def stored_run(project: Path, finished: bool, failed: bool = False, gate: bool = False) -> None:
    store = RunStore(project)
    with pytest.MonkeyPatch.context() as patch:  # the run's recorded start
        patch.setattr(time, "time", lambda: T0)
        run = store.begin_run("shop", "alice", "console: run")
    store.record(RunStarted(run, T0, "shop", ("Commit", "Acceptance", "Release"), "alice"))
    store.record(PhaseStarted(run, T0, "Commit"))
    stage(store, run, "Commit", "unit", 0.0, 1.2, output="Ran 30 tests in 0.1s\nOK\n")
    store.record(PhaseFinished(run, T0 + 1.3, "Commit", Status.SUCCEEDED))
    store.record(PhaseStarted(run, T0 + 1.3, "Acceptance"))
    stage(store, run, "Acceptance", "lint", 1.3, 2.0, output="lint: 12 files clean\n")
    if failed:
        stage(store, run, "Acceptance", "bdd", 1.3, 4.5, Status.FAILED, BDD_LOG, "exit code 1")
        store.record(
            StageFinished(
                run,
                T0 + 4.5,
                "Acceptance",
                "package",
                0,
                Status.SKIPPED,
                None,
                "needs 'bdd', which failed",
            )
        )
        store.record(PhaseFinished(run, T0 + 4.6, "Acceptance", Status.FAILED, "failed: bdd"))
        store.record(RunFinished(run, T0 + 4.6, Status.FAILED, "phase 'Acceptance' FAILED"))
    else:
        stage(
            store,
            run,
            "Acceptance",
            "bdd",
            1.3,
            4.5 if finished else None,
            output=BDD_LOG.split("\x1b")[0],
        )
        if finished or gate:
            stage(store, run, "Acceptance", "package", 4.5, 5.0, output="sha256 f6af534d\n")
            store.record(PhaseFinished(run, T0 + 5.0, "Acceptance", Status.SUCCEEDED))
        if gate:
            store.record(GateWaiting(run, T0 + 5.0, "Release", ("announce",)))
    store.flush()
    store.close()


def app_for(project: Path, **kwargs) -> CdtuiApp:
    return CdtuiApp(project, **kwargs)


async def ready(pilot) -> None:
    """The console has replaced its opening frame and read the stored run."""
    for _ in range(100):
        if isinstance(pilot.app.screen, MainScreen) and hasattr(pilot.app.screen, "first"):
            break
        await pilot.pause(0.05)
    pane = pilot.app.screen.first
    for _ in range(100):  # and the log pane has taken in the whole stored log
        path = pane.path
        if path is None or (path.exists() and pane.line_count >= path.read_bytes().count(b"\n")):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


def test_idle(snap_compare, tmp_path: Path):
    assert snap_compare(app_for(make_project(tmp_path)), terminal_size=SIZE, run_before=ready)


def test_running(snap_compare, tmp_path: Path):
    project = make_project(tmp_path)
    stored_run(project, finished=False)
    assert snap_compare(app_for(project), terminal_size=SIZE, run_before=ready)


def selecting(phase: str, stage: str):
    """``run_before`` for a snapshot of one stage's pane."""

    async def select(pilot) -> None:
        await ready(pilot)
        pilot.app.screen.phase_tree.select_stage(phase, stage)
        await pilot.pause(0.3)

    return select


def test_failed_with_its_log(snap_compare, tmp_path: Path):
    """The failed stage's exit code in the tree and the pane title (``exit code 1``)."""
    project = make_project(tmp_path)
    stored_run(project, finished=True, failed=True)
    run_before = selecting("Acceptance", "bdd")
    assert snap_compare(app_for(project), terminal_size=SIZE, run_before=run_before)


def test_search(snap_compare, tmp_path: Path):
    project = make_project(tmp_path)
    stored_run(project, finished=True, failed=True)

    async def search(pilot) -> None:
        await ready(pilot)
        pilot.app.screen.phase_tree.select_stage("Acceptance", "bdd")
        await pilot.pause(0.3)
        await pilot.press("slash", *"ok", "enter")
        await pilot.pause(0.5)

    assert snap_compare(app_for(project), terminal_size=SIZE, run_before=search)


def test_gate_modal(snap_compare, tmp_path: Path):
    project = make_project(tmp_path)
    stored_run(project, finished=False, gate=True)

    async def open_modal(pilot) -> None:
        await ready(pilot)
        await pilot.app.push_screen(
            ConfirmModal(
                "Approve phase Release?",
                "Approving lets this phase start now:\n\n  • announce  $ echo release\n\n"
                "Run #1, approved as alice.",
            )
        )
        await pilot.pause(0.2)

    assert snap_compare(app_for(project), terminal_size=SIZE, run_before=open_modal)


def test_history(snap_compare, tmp_path: Path):
    project = make_project(tmp_path)
    stored_run(project, finished=True, failed=True)
    stored_run(project, finished=True)
    assert snap_compare(app_for(project), terminal_size=SIZE, press=["h"], run_before=ready)


@pytest.mark.parametrize("theme", ["cdtui-dark", "cdtui-light", "cdtui-high-contrast"])
def test_each_theme(snap_compare, tmp_path: Path, theme: str):
    project = make_project(tmp_path)
    stored_run(project, finished=True, failed=True)
    assert snap_compare(app_for(project, theme=theme), terminal_size=SIZE, run_before=ready)


def test_skipped_with_its_reason(snap_compare, tmp_path: Path):
    """A skipped stage has no log: its pane says why (``needs 'bdd', which failed``)."""
    project = make_project(tmp_path)
    stored_run(project, finished=True, failed=True)
    run_before = selecting("Acceptance", "package")
    assert snap_compare(app_for(project), terminal_size=SIZE, run_before=run_before)
