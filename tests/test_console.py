"""The console through Textual's Pilot: every key path against real runs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from cdtui.engine.events import Status
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.config_errors import ConfigErrorScreen
from cdtui.ui.screens.confirm import ARMING_DELAY, ConfirmModal
from cdtui.ui.screens.history import HistoryScreen
from cdtui.ui.screens.main import MainScreen

SIZE = (100, 30)

PIPELINE = """\
project: demo
phases:
  - name: Build
    stages:
      - {name: compile, run: "echo compiled; echo warning: careful >&2"}
      - {name: test, run: "for i in 1 2 3; do echo test line $i; done", needs: [compile]}
  - name: Ship
    gate: confirm
    stages:
      - {name: deploy, run: "echo deployed"}
"""


def project(tmp_path: Path, text: str = PIPELINE) -> Path:
    (tmp_path / "cdtui.yaml").write_text(text)
    return tmp_path


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def main_screen(app: CdtuiApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), type(screen)
    return screen


def run_status(app: CdtuiApp) -> Status:
    return main_screen(app).state.status


async def test_idle_console_shows_the_pipeline_tree(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = main_screen(app)
        labels = [str(node.label) for node in screen.phase_tree.root.children]
        assert any("Build" in label for label in labels)
        assert any("Ship" in label and "gate" in label for label in labels)
        assert screen.check_action("approve", ()) is False  # nothing waits yet


async def test_run_key_runs_until_the_gate_and_the_gate_needs_a_deliberate_key(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.WAITING)
        engine = app.session.engine
        assert engine.waiting_gates == ["Ship"]

        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")  # too soon after opening: auto-repeat protection
        await pilot.press("enter", "a", "a")
        await pilot.pause(ARMING_DELAY + 0.1)
        assert isinstance(app.screen, ConfirmModal) and engine.waiting_gates == ["Ship"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert engine.waiting_gates == ["Ship"]

        await pilot.press("a")
        await pilot.pause(ARMING_DELAY + 0.1)
        await pilot.press("y", "y", "y")  # a held-down key approves once
        await wait_for(pilot, lambda: run_status(app) is Status.SUCCEEDED)
        approvals = app.session.store.approvals(engine.run_id)
        assert [phase for phase, _, _ in approvals] == ["Ship"]


async def test_selected_stage_log_follows_and_search_counts_matches(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.WAITING)
        screen = main_screen(app)
        screen.phase_tree.select_stage("Build", "test")
        await wait_for(pilot, lambda: screen.first.line_count >= 3)
        await pilot.press("slash")
        await pilot.press(*"line", "enter")
        await wait_for(pilot, lambda: screen.first.match_count == 3)


async def test_run_stage_key_runs_only_the_stage_and_what_it_needs(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = main_screen(app)
        screen.phase_tree.select_stage("Build", "test")
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: run_status(app) is Status.SUCCEEDED)
        stages = {name for ps in screen.state.phases.values() for name in ps.stages}
        assert stages == {"compile", "test"}


async def test_cancel_key_ends_the_stage_processes(tmp_path: Path):
    text = (
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: long, run: 'sleep 30 & echo $! > pids; echo $$ >> pids; wait', grace: 1s}\n"
    )
    app = CdtuiApp(project(tmp_path, text))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        pids_file = tmp_path / "pids"
        await wait_for(
            pilot, lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2
        )
        screen = main_screen(app)
        screen.phase_tree.select_stage("P", "long")
        await pilot.pause()
        await pilot.press("c")
        await wait_for(
            pilot, lambda: run_status(app) is Status.CANCELLED or run_status(app) is Status.FAILED
        )
        assert screen.state.phases["P"].stages["long"].status is Status.CANCELLED
        for pid in map(int, pids_file.read_text().split()):
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


async def test_rerun_failed_runs_only_the_failed_stage(tmp_path: Path):
    text = (
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: ok, run: 'true'}\n"
        "      - {name: flaky, run: 'test -f fixed'}\n"
    )
    app = CdtuiApp(project(tmp_path, text))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.FAILED)
        (tmp_path / "fixed").touch()
        await pilot.press("R")
        await wait_for(pilot, lambda: run_status(app) is Status.SUCCEEDED)
        assert set(main_screen(app).state.phases["P"].stages) == {"flaky"}


async def test_history_lists_runs_and_opens_one_read_only(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.WAITING)
        app.session.engine.cancel("test")
        await wait_for(pilot, lambda: run_status(app) is Status.CANCELLED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert app.screen.runs and app.screen.runs[0].status is Status.CANCELLED
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.view_run)
        viewer = main_screen(app)
        assert viewer.readonly and viewer.check_action("run_all", ()) is False
        assert viewer.state.phases["Build"].stages["compile"].status is Status.SUCCEEDED
        await pilot.press("slash")
        await pilot.press("escape")  # closes the search, not the view
        await pilot.pause(0.1)
        assert app.screen is viewer
        await pilot.press("escape")  # leaves the old run: back to the list, then the live run
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        live = app.screen
        assert live.view_run is None and live.check_action("back", ()) is False
        await pilot.press("h", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "view_run", None) is not None)
        await pilot.press("h")  # h again from an old run's view: the list, never a stack of them
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        stack = app.screen_stack
        assert sum(isinstance(s, HistoryScreen) for s in stack) == 1, stack
        assert not any(getattr(s, "view_run", None) for s in stack), stack


async def test_invalid_file_shows_errors_then_reloads_when_fixed(tmp_path: Path):
    bad = PIPELINE.replace("needs: [compile]", "needs: [compiel]")
    app = CdtuiApp(project(tmp_path, bad))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigErrorScreen))
        errors = app.screen.errors
        assert errors and errors[0].line == 6 and "compile" in (errors[0].message + errors[0].hint)
        time.sleep(0.01)
        (tmp_path / "cdtui.yaml").write_text(PIPELINE + "\n")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), timeout=5)


async def test_readonly_console_watches_a_run_driven_elsewhere(tmp_path: Path):
    project(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdtui.cli",
        "run",
        "--headless",
        str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()
    app = CdtuiApp(tmp_path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.state.run_id
        )
        screen = main_screen(app)
        assert screen.state.run_id is not None
        assert screen.state.phases["Build"].stages["test"].status is Status.SUCCEEDED
        for action in ("run_all", "run_stage", "rerun_failed", "approve", "cancel_run"):
            assert screen.check_action(action, ()) is False
        await pilot.press("r")
        await pilot.pause(0.2)
        assert app.session.engine is None


async def test_theme_choice_persists(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "cdtui-dark"
        app.theme = "cdtui-high-contrast"
        await pilot.pause()
    settings = Path(os.environ["XDG_CONFIG_HOME"]) / "cdtui" / "settings.json"
    assert json.loads(settings.read_text())["theme"] == "cdtui-high-contrast"
    again = CdtuiApp(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "cdtui-high-contrast"


async def test_user_theme_file_is_loaded_without_code(tmp_path: Path):
    themes = Path(os.environ["XDG_CONFIG_HOME"]) / "cdtui" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\n')
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "mine" in app.available_themes
        app.theme = "mine"
        await pilot.pause()
        assert app.theme_variables["status-running"]


@pytest.mark.parametrize("key", ["question_mark"])
async def test_help_lists_the_keys(tmp_path: Path, key: str):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_filter_split_command_pane_and_cancel_run_keys(tmp_path: Path):
    text = (
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: words, run: 'printf \"apple\\nbanana\\napricot\\n\"'}\n"
        "      - {name: long, run: 'sleep 30', needs: [words], grace: 1s}\n"
    )
    app = CdtuiApp(project(tmp_path, text))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: main_screen(app).state.phases["P"].stages["long"].status is Status.RUNNING,
        )
        screen = main_screen(app)
        assert any("[local] sleep 30" in entry for entry in screen.command_log.entries)
        await pilot.press("o")
        assert screen.has_class("-commands")

        await wait_for(pilot, lambda: screen._selected_key() == ("P", "long"))  # it follows
        await pilot.press("up")  # the operator moves: the tree stops following the running stage
        await wait_for(pilot, lambda: screen.first.line_count == 3)
        await pilot.press("f", *"ap", "enter")
        await wait_for(pilot, lambda: screen.first.state.rows.base_count() == 2)  # apple, apricot
        await pilot.press("F", *"ap", "enter")
        await wait_for(pilot, lambda: screen.first.state.rows.base_count() == 1)  # banana

        await pilot.press("v")
        assert screen.has_class("-split")
        assert "words" in str(screen.second.border_title)

        await pilot.press("C")
        await wait_for(pilot, lambda: run_status(app) is Status.CANCELLED)
        assert screen.state.phases["P"].stages["long"].status is Status.CANCELLED


async def test_the_real_console_freezes_its_startup_objects_once_open(tmp_path: Path):
    import gc

    before = gc.get_freeze_count()
    app = CdtuiApp(project(tmp_path), freeze_gc=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: gc.get_freeze_count() > before)
    finally:
        gc.unfreeze()


async def test_a_pipeline_file_saved_during_a_run_is_told_once_and_reloads_when_it_ends(
    tmp_path: Path,
):
    app = CdtuiApp(project(tmp_path))
    told: list[str] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        told.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.WAITING)
        (tmp_path / "cdtui.yaml").write_text(PIPELINE.replace("echo deployed", "echo shipped"))
        await pilot.pause(2.0)  # four ticks of the file watch while the run waits at its gate
        assert sum("changed; it reloads when the run ends" in t for t in told) == 1
        app.session.engine.cancel("test over")
        await wait_for(pilot, lambda: not app.session.running)
        await wait_for(
            pilot, lambda: "shipped" in app.session.pipeline.phases[1].stages[0].command_text
        )


async def test_closing_the_console_ends_its_run_on_record(tmp_path: Path):
    app = CdtuiApp(project(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.WAITING)
        run_id = app.session.engine.run_id
    from cdtui.store import RunStore

    with RunStore(tmp_path) as store:
        run = store.run(run_id)
    assert run is not None and run.status is Status.CANCELLED
