"""The release view at 3 a.m.: a release whose driving cdtui was killed shows as DRIVERLESS with
both ways out, and its confirmation says it resumes; a rollback refused because its target is
unhealthy offers the redeploy in the dialog, and that key rolls back. Real embedded router,
real HTTP backends, a real process that records a release and dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from test_console_80x24 import SMALL, screen_text
from test_release_console import (  # noqa: F401
    Setup,
    confirm,
    open_release_view,
    plain,
    setup,
    wait_for,
    write,
)

from cdtui.release.control import key_of
from cdtui.release.routers import Weights
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.confirm import ARMING_DELAY, ConfirmModal, RefusalModal
from cdtui.ui.screens.release import ReleaseScreen
from cdtui.ui.widgets.rollout_panel import RolloutPanel


def killed_driver(where: Setup, step: int = 25) -> int:
    """A cdtui that recorded a step and died: the records of a ``kill -9``."""
    from cdtui.config.release import ReleaseSpec

    key = key_of(ReleaseSpec.model_validate(where.block).router)
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from cdtui.release.routers import Weights
        from cdtui.store.releases import ReleaseRecords
        book = ReleaseRecords(Path({str(where.project)!r}), {key!r})
        book.applied(99, "blue", Weights.ALL_BLUE, Weights({100 - step}, {step}), {step})
        book.state(99, "blue", "step", {step}, "holding {step}%")
        book.close()
        print(os.getpid())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout)


async def driverless_view(pilot, app: CdtuiApp, step: int) -> str:
    """The release view once it has found the driver gone; what its rollout panel says."""
    view = await open_release_view(pilot, app)
    await wait_for(pilot, lambda: view.watch.driverless, what="driverless")
    await pilot.pause(0.5)
    assert "next step in" not in screen_text(app) and view.watch.hold_left() is None
    assert sum(f"holding {step}%" in m.text for m in view.watch.timeline) == 1  # told once
    return str(view.query_one(RolloutPanel).render())


async def test_a_driverless_release_says_so_and_its_release_resumes(setup: Setup):  # noqa: F811
    setup.set(75, 25)
    pid = killed_driver(setup, 25)
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SMALL) as pilot:
        panel = await driverless_view(pilot, app, 25)
        assert f"DRIVERLESS: the cdtui driving it (pid {pid}) is gone" in panel
        shown = screen_text(app)  # on screen at 80x24, the ways out too, not only in the widget
        assert "DRIVERLESS" in shown and "r resumes it from 25%, b rolls back" in shown
        await pilot.press("p")  # nobody to promote: the notice names the ways out
        await pilot.pause(0.1)
        assert any("Nobody drives" in n.message for n in app._notifications)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        modal = app.screen
        assert modal.title_text == "Resume the release: blue → green from 25%?"
        body = plain(modal.body)
        assert f"cdtui (pid {pid}) is gone, from 25% on green" in body
        assert "serves 25% now, so it is not redeployed" in body
        await pilot.pause(0.2)
        assert "press y to release" in screen_text(app)
        await pilot.press("escape")


async def test_a_driverless_release_at_100_percent_is_not_offered_as_a_resume(
    setup: Setup,  # noqa: F811
):
    """Killed in its last hold: all traffic is on green, so the release stage (control.prepare)
    would start a new release green → blue. The view and the dialog say so; no 'resume'."""
    setup.set(0, 100)
    pid = killed_driver(setup, 100)
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SMALL) as pilot:
        panel = await driverless_view(pilot, app, 100)
        assert f"(pid {pid}) is gone" in panel and "all traffic is on green" in panel
        assert "resumes" not in panel and "b rolls back" in panel
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        modal = app.screen
        assert modal.title_text == "Release: green → blue?"
        assert "This is a NEW release, green → blue" in " ".join(plain(modal.body).split())
        await pilot.press("escape")


async def test_a_refused_rollback_offers_the_redeploy_and_it_rolls_back(setup: Setup):  # noqa: F811
    fix = (
        f'{sys.executable} -c "import os, urllib.request; '
        "urllib.request.urlopen(os.environ['CDTUI_COLOUR_URL'] + '/_fault/off')\""
    )
    write(setup.project, {**setup.block, "blue": {"url": setup.blue.url, "deploy": fix}})
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SMALL) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(pilot, lambda: view.watch.colours["green"].known, what="green checked")
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_for(pilot, lambda: view.watch.state == "done", timeout=30, what="released")
        await wait_for(pilot, lambda: not app.session.running, what="run ended")
        assert setup.weights() == Weights.ALL_GREEN
        setup.blue.fault = True  # the old colour broke while green served
        await wait_for(
            pilot, lambda: not view.watch.colours["blue"].healthy, what="blue seen unhealthy"
        )
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="rollback dialog")
        body = plain(app.screen.body)
        assert "blue is unhealthy now: the rollback will be refused" in body
        await confirm(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, RefusalModal), what="refusal")
        refusal = app.screen
        assert "rollback target blue is UNHEALTHY" in refusal.why
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "press r to redeploy blue (the bytes it last ran), then roll back" in shown
        assert setup.weights() == Weights.ALL_GREEN  # refused: nobody moved onto the broken one
        await pilot.pause(ARMING_DELAY + 0.05)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReleaseScreen), what="back")
        await wait_for(
            pilot, lambda: setup.weights() == Weights.ALL_BLUE, timeout=30, what="rolled back"
        )
        assert not setup.blue.fault  # the redeploy (its deploy command) fixed it first
