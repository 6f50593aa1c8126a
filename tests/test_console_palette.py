"""The command palette offers every described key of the screen it opens on, read from BINDINGS."""

from __future__ import annotations

import json
import time
from pathlib import Path

from routing_fixtures import free_port, release_block
from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import OptionList

from cdtui.ui.app import CdtuiApp
from cdtui.ui.commands import described
from cdtui.ui.screens.history import HistoryScreen
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.screens.monitor import MonitorScreen
from cdtui.ui.screens.release import ReleaseScreen

SIZE = (110, 32)


def project(tmp_path: Path) -> Path:
    block = release_block("http://127.0.0.1:9", "http://127.0.0.1:10", free_port())
    phases = [
        {"name": "Build", "stages": [{"name": "compile", "run": "echo compiled"}]},
        {"name": "Release", "gate": "confirm", "release": block},
    ]
    (tmp_path / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))
    return tmp_path


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def palette_titles(app: CdtuiApp, screen: Screen) -> set[str]:
    return {command.title for command in app.get_system_commands(screen)}


def missing(app: CdtuiApp, screen: Screen) -> set[str]:
    """Descriptions of the screen's keys that the palette does not offer."""
    return {b.description for b in described(screen)} - palette_titles(app, screen)


async def test_every_screen_offers_its_keys_in_the_palette(tmp_path: Path):
    app = CdtuiApp(project(tmp_path), monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        # Idle: no gate waits and nothing runs, so those keys (hidden in the footer) are left out.
        assert missing(app, main) == {"Approve", "Cancel", "Cancel run", "Back"}  # Back: old runs
        assert {"Run", "Search", "Split", "History", "Release", "Help"} <= palette_titles(app, main)

        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen))
        assert missing(app, app.screen) == set()
        assert {"Release", "Roll back", "Promote", "Abort"} <= palette_titles(app, app.screen)

        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert missing(app, app.screen) == set()

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert missing(app, app.screen) == set()
        assert {"Open", "Re-run failed", "Back"} <= palette_titles(app, app.screen)


async def test_a_palette_command_does_what_its_key_does(tmp_path: Path):
    app = CdtuiApp(project(tmp_path), monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"History")
        hits = app.screen.query_one(OptionList)  # filled by the palette's search worker
        await wait_for(pilot, lambda: hits.option_count > 0 and hits.highlighted is not None)
        assert "History" in str(hits.get_option_at_index(hits.highlighted).prompt)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_a_read_only_console_offers_no_key_that_changes_anything(tmp_path: Path):
    app = CdtuiApp(project(tmp_path), readonly=True, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        titles = palette_titles(app, app.screen)
        assert not titles & {"Run", "Stage", "Re-run", "Approve", "Cancel"}
        assert "History" in titles
