"""Smaller console points of #11: the header clock ticks at a gate, a read-only console opens the
release view when a release starts elsewhere, and after a rollback the console opens on the last
pipeline run (not on the rollback's run of one stage, as ``0/10 stages``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_console import PIPELINE, main_screen, project, wait_for
from test_console_snapshots import make_project, stored_run
from test_release_console import Setup, setup  # noqa: F401

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import RunFinished, RunStarted, StageFinished, StageStarted, Status
from cdtui.release.control import key_of
from cdtui.store import RunStore
from cdtui.store.releases import ReleaseRecords
from cdtui.ui import clock
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.release import ReleaseScreen
from cdtui.ui.widgets.run_header import RunHeader


async def test_the_header_clock_ticks_while_a_gate_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    offset = [0.0]
    monkeypatch.setattr(clock, "now", lambda: time.time() + offset[0])
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: hasattr(app.screen, "first"))
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.session.engine and app.session.engine.waiting_gates))
        await pilot.pause(0.3)
        header = main_screen(app).query_one(RunHeader)
        assert "a gate waits" in str(header.render())
        offset[0] = 3600.0  # an hour at the gate
        await wait_for(pilot, lambda: "1h" in str(header.render()))
        await app.stop_run("test over")


async def test_a_readonly_console_opens_the_release_view_when_a_release_starts(
    setup: Setup,  # noqa: F811
):
    app = CdtuiApp(setup.project, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: hasattr(app.screen, "first"))
        await pilot.pause(1.5)  # the poller has read the (empty) records once
        assert not isinstance(app.screen, ReleaseScreen)
        key = key_of(ReleaseSpec.model_validate(setup.block).router)
        book = ReleaseRecords(setup.project, key)  # another cdtui (alive: this pid) starts
        book.state(7, "blue", "preflight", 0, "checking green")
        book.close()
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), timeout=10)
        assert os.getpid() == ReleaseRecords(setup.project, key).last_state().pid


async def test_after_a_rollback_the_console_opens_on_the_pipeline_run(tmp_path: Path):
    project_dir = make_project(tmp_path)
    stored_run(project_dir, finished=True, failed=True)
    store = RunStore(project_dir)
    run = store.begin_run("shop", "alice", "console: rollback")
    now = time.time()
    store.record(RunStarted(run, now, "shop", ("Release",), "alice"))
    store.record(StageStarted(run, now, "Release", "rollback", 1, "rollback"))
    store.record(StageFinished(run, now, "Release", "rollback", 1, Status.SUCCEEDED, 0, "", 0.1))
    store.record(RunFinished(run, now, Status.SUCCEEDED))
    store.flush()
    store.close()
    app = CdtuiApp(project_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: hasattr(app.screen, "first"))
        await pilot.pause(0.3)
        screen = main_screen(app)
        assert screen.state.run_id == 1 and screen._selected_key() == ("Acceptance", "bdd")
        assert "0/" not in str(screen.query_one(RunHeader).render())
