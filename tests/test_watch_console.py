"""The console's W through Pilot: watch mode on, a save re-runs Commit, the header says why."""

from __future__ import annotations

import time
from pathlib import Path

from cdtui.engine.events import Status
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen

PIPELINE = """\
project: demo
phases:
  - name: Commit
    stages:
      - {name: unit, run: "echo testing $(cat src.txt)"}
  - name: Ship
    stages:
      - {name: deploy, run: "echo deployed"}
"""


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def header(screen: MainScreen) -> str:
    return str(screen.header_bar.render())


async def test_w_turns_watch_mode_on_a_save_reruns_commit_and_w_turns_it_off(tmp_path: Path):
    (tmp_path / "cdtui.yaml").write_text(PIPELINE)
    (tmp_path / "src.txt").write_text("v1")
    app = CdtuiApp(tmp_path, monitor=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("W")
        await wait_for(pilot, lambda: "W watching → Commit" in header(screen))
        await pilot.pause(0.3)  # the watcher thread is up
        assert app.session.engine is None, "turning it on runs nothing by itself"

        (tmp_path / "src.txt").write_text("v2")
        await wait_for(pilot, lambda: screen.state.run_id is not None)
        await wait_for(pilot, lambda: screen.state.status is Status.SUCCEEDED)
        await wait_for(pilot, lambda: "W src.txt → Commit · run #1 ✓ SUCCEEDED" in header(screen))
        assert [p.name for p in app.session.engine.plan.phases] == ["Commit"]

        await pilot.press("W")
        await wait_for(pilot, lambda: not screen.watching)
        await wait_for(pilot, lambda: "W " not in header(screen))
        first = app.session.engine.run_id
        (tmp_path / "src.txt").write_text("v3")
        await pilot.pause(0.6)
        assert app.session.engine.run_id == first, "off means off"


async def test_quitting_with_watch_mode_on_ends_the_watcher(tmp_path: Path):
    (tmp_path / "cdtui.yaml").write_text(PIPELINE)
    app = CdtuiApp(tmp_path, monitor=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("W")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await wait_for(pilot, lambda: screen.watching)
        watcher = screen._watch
    assert watcher is not None and watcher.stop.is_set()
