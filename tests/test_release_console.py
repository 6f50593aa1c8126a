"""The release and monitor views through Textual's Pilot, against a real embedded router and real
HTTP backends: release from the keyboard to 100% green, roll back, promote, pause, abort, and each
refusal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import FaultyServer, faulty_server
from routing_fixtures import InProcessRouter, embedded_router, free_port
from test_release_rollout import fast

from cdtui.release.routers import Weights
from cdtui.store.releases import RouterLock
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.confirm import ARMING_DELAY, ConfirmModal, RefusalModal
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.screens.monitor import MonitorScreen
from cdtui.ui.screens.release import ReleaseScreen

SIZE = (110, 36)


class Setup:
    def __init__(self, project: Path, block: dict, router: InProcessRouter, blue, green) -> None:
        self.project, self.block, self.router = project, block, router
        self.blue: FaultyServer = blue
        self.green: FaultyServer = green

    def weights(self) -> Weights:
        return self._on_router(self.router.driver.get_weights())

    def set(self, blue: int, green: int) -> Weights:
        return self._on_router(self.router.driver.set_weights(Weights(blue, green)))

    def _on_router(self, work) -> Weights:
        """On the router's own loop: a test's loop must not block on its own I/O."""
        return asyncio.run_coroutine_threadsafe(work, self.router.loop).result(5)


def write(project: Path, block: dict, *, gate: bool = True) -> None:
    phases = [
        {"name": "Build", "stages": [{"name": "compile", "run": "echo compiled"}]},
        {"name": "Release", **({"gate": "confirm"} if gate else {}), "release": block},
    ]
    (project / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port(), hold=0.6)
        write(tmp_path, block)
        with embedded_router(tmp_path, block) as router:
            yield Setup(tmp_path, block, router, blue, green)


async def wait_for(pilot, condition, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in time")
        await pilot.pause(0.05)


async def confirm(pilot, app: CdtuiApp, key: str = "y") -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
    await pilot.pause(ARMING_DELAY + 0.05)
    await pilot.press(key)


async def open_release_view(pilot, app: CdtuiApp) -> ReleaseScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="console")
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="release view")
    return app.screen  # type: ignore[return-value]


def plain(renderable) -> str:
    """What a modal's body says, as text."""
    import io

    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def bar_text(app: CdtuiApp) -> str:
    from cdtui.ui.widgets.traffic_bar import TrafficBar

    return str(app.screen.query_one(TrafficBar).render())


async def test_release_from_the_keyboard_moves_the_bar_to_100_green(setup: Setup):
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(pilot, lambda: "BLUE 100%" in bar_text(app), what="bar at 100% blue")
        await wait_for(pilot, lambda: view.watch.colours["green"].known, what="green checked")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        modal = app.screen
        shown = plain(modal.body)
        assert "blue (live) → green (idle" in shown
        assert "10% → 50% → 100%" in shown and "health now" in shown
        await pilot.press("r", "enter")  # neither the opening key nor Enter confirms
        await pilot.pause(ARMING_DELAY + 0.05)
        assert app.screen is modal and setup.weights() == Weights.ALL_BLUE
        await pilot.press("y", "y", "y")  # held down: confirms once
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="back on view")
        await wait_for(pilot, lambda: view.watch.state == "done", timeout=30, what="done")
        moved = [m.text for m in view.watch.timeline if m.text.startswith("router: ")]
        assert moved[:2] == ["router: blue 90% / green 10%", "router: blue 50% / green 50%"]
        assert [v.text.split(":")[0] for v in view.watch.verdicts] == ["10%", "50%", "100%"]
        assert view.watch.live == "green"
        await wait_for(pilot, lambda: not app.session.running, what="run recorded as ended")
        runs = app.session.store.recent_runs(5)
        assert runs[0].selection == "console: release" and runs[0].status.ok


async def test_the_release_view_opens_by_itself_at_the_release_gate(setup: Setup):
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="console")
        await pilot.press("r")  # the whole pipeline: Build, then the Release gate
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="auto-open")
        assert app.session.engine.waiting_gates == ["Release"]
        await pilot.press("r")
        await confirm(pilot, app)  # the release confirmation approves the gate
        view = app.screen
        await wait_for(pilot, lambda: view.watch.state == "done", timeout=30, what="done")
        assert setup.weights() == Weights.ALL_GREEN
        approvals = app.session.store.approvals(app.session.engine.run_id)
        assert [a[0] for a in approvals] == ["Release"]


async def test_a_fault_in_green_rolls_back_by_itself(setup: Setup):
    setup.block["hold"] = 5
    write(setup.project, setup.block)
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_for(pilot, lambda: view.watch.state == "step", what="first step")
        setup.green.fault = True
        await wait_for(pilot, lambda: view.watch.state == "aborted", what="automatic rollback")
        assert setup.weights() == Weights.ALL_BLUE
        assert view.watch.verdicts[-1].level == "error"
        assert any("release aborted" in a.text for a in view.watch.alerts)


async def test_roll_back_by_hand_after_a_good_release(setup: Setup):
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_for(pilot, lambda: view.watch.state == "done", timeout=30, what="done")
        await wait_for(pilot, lambda: not app.session.running, what="run ended")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="rollback modal")
        assert "All traffic goes to blue at once" in plain(app.screen.body)
        await pilot.press("b")  # the opening key does not confirm
        await pilot.pause(ARMING_DELAY + 0.05)
        assert setup.weights() == Weights.ALL_GREEN
        await pilot.press("y")
        await wait_for(pilot, lambda: setup.weights() == Weights.ALL_BLUE, what="rolled back")
        await wait_for(pilot, lambda: view.watch.state == "rolled back", what="state shown")
        assert app.session.store.recent_runs(1)[0].selection == "console: rollback"
        said = lambda: [m.text for m in view.watch.timeline]  # noqa: E731
        await wait_for(pilot, lambda: "rollback succeeded" in said(), what="the run's end told")
        assert said().count("release phase succeeded") == 1, said()  # the release's, not this


async def test_promote_pause_resume_and_abort_keys(setup: Setup):
    setup.block["hold"] = 30
    write(setup.project, setup.block)
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await pilot.press("p")  # nothing runs yet: told, nothing happens
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_for(pilot, lambda: view.watch.state == "step", what="first step")
        assert view.watch.step == 10
        await pilot.press("space")
        await wait_for(pilot, lambda: view.watch.state == "paused", what="paused")
        await pilot.press("space")
        await wait_for(pilot, lambda: view.watch.state == "step", what="resumed")
        await pilot.press("p")
        await wait_for(pilot, lambda: view.watch.step == 50, what="promoted to 50%")
        await pilot.press("x")
        await wait_for(pilot, lambda: view.watch.state == "aborted", what="aborted")
        assert setup.weights() == Weights.ALL_BLUE


async def test_refused_while_another_cdtui_holds_the_router(setup: Setup):
    from cdtui.config.release import ReleaseSpec
    from cdtui.release.control import key_of

    lock = RouterLock(setup.project, key_of(ReleaseSpec.model_validate(setup.block).router))
    lock.acquire()  # as another process would: flock is per open file
    try:
        app = CdtuiApp(setup.project)
        async with app.run_test(size=SIZE) as pilot:
            await open_release_view(pilot, app)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, RefusalModal), what="refusal")
            assert "Another cdtui holds the router" in app.screen.title_text
            await pilot.press("escape")
            assert setup.weights() == Weights.ALL_BLUE
    finally:
        lock.release()


async def test_refused_when_the_router_and_the_record_disagree(setup: Setup):
    setup.set(70, 30)  # changed behind cdtui's back: no record says so
    from cdtui.config.release import ReleaseSpec
    from cdtui.release.control import key_of
    from cdtui.store.releases import ReleaseRecords

    records = ReleaseRecords(setup.project, key_of(ReleaseSpec.model_validate(setup.block).router))
    records.applied(1, "blue", Weights.ALL_GREEN, Weights.ALL_BLUE, 0)
    records.close()
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        await open_release_view(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RefusalModal), what="refusal")
        assert "disagree" in app.screen.title_text and "--reconcile" in app.screen.fix
        await pilot.press("escape")
        assert setup.weights() == Weights(70, 30)


async def test_refused_while_the_idle_colour_is_unhealthy(setup: Setup):
    setup.green.fault = True  # green has no deploy command: nothing would fix it
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(
            pilot, lambda: view.watch.colours["green"].consecutive_failures >= 3, what="checks"
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RefusalModal), what="refusal")
        assert "Idle green is unhealthy" in app.screen.title_text
        assert "HTTP 500" in app.screen.why
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="view again")
        assert setup.weights() == Weights.ALL_BLUE


async def test_monitor_view_shows_production_health_and_alerts(setup: Setup):
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), what="monitor")
        await wait_for(pilot, lambda: view.watch.public.known, what="public checked")
        assert view.watch.public.healthy  # the router forwards /health to live blue
        setup.blue.fault = True
        await wait_for(
            pilot, lambda: any("blue unhealthy" in a.text for a in view.watch.alerts), what="alert"
        )
        await pilot.pause(0.6)
        from cdtui.ui.widgets.moment_list import MomentList

        assert "blue unhealthy" in str(app.screen.query_one(MomentList).render())
        from cdtui.release.poller import load_alerts

        stored = [a.text for a in load_alerts(setup.project)]
        assert any("blue unhealthy" in text for text in stored)  # kept for the next console
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="release view")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="pipeline view")


async def test_a_monitor_view_swapped_out_mid_read_draws_nothing_and_the_app_lives(setup: Setup):
    """Its facts are read on a thread and its timers tick in tasks of their own: one landing while
    the swap to the release view removes its widgets once crashed the console (NoMatches)."""
    from textual.css.query import NoMatches

    app = CdtuiApp(setup.project, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_release_view(pilot, app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), what="monitor")
        monitor = app.screen
        with pytest.raises(NoMatches):  # shown: a missing widget is still a bug, never hidden
            monitor.paint(lambda: monitor.query_one("#no-such-widget"))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="release view")
        await wait_for(pilot, lambda: not monitor.children, what="monitor's widgets removed")
        await monitor._read_facts()  # what a late worker does
        monitor.paint(monitor.repaint)  # what a late timer does
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), what="pipeline view")


async def test_help_from_the_release_view_lists_its_keys(setup: Setup):
    from textual.widgets import Static

    from cdtui.ui.screens.help import HelpScreen

    app = CdtuiApp(setup.project, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_release_view(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        shown = plain(app.screen.query_one(Static).content)
        assert "Release the idle colour" in shown and "All traffic back to live" in shown


async def test_a_read_only_console_watches_the_release_view_but_moves_no_traffic(setup: Setup):
    app = CdtuiApp(setup.project, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(pilot, lambda: view.watch.weights is not None, what="weights read")
        for action in ("release", "rollback", "promote", "pause", "abort"):
            assert view.check_action(action, ()) is False
        await pilot.press("r", "b")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ReleaseScreen) and app.session.engine is None
        assert setup.weights() == Weights.ALL_BLUE
