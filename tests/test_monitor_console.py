"""The console's monitor view through Pilot: it shows what a ``cdtui monitor`` process checks and
fires, says when none runs, runs the monitor itself on ``s``, and never runs a second one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_procs import MonitorProcess
from release_backends import FaultyServer, faulty_server
from routing_fixtures import embedded_router, free_port
from test_release_rollout import fast

from cdtui.monitor.state import running_pid
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.screens.monitor import MonitorScreen
from cdtui.ui.widgets.check_list import CheckList

SIZE = (110, 36)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port())
        project = tmp_path / "shop"
        (project / ".cdtui").mkdir(parents=True)
        monitor = {
            "interval": 0.2,
            "checks": [{"name": "shop", "http": f"{blue.url}/health", "timeout": 1}],
            "alerts": [{"name": "shop-down", "check": "shop", "after": 3, "actions": ["notify"]}],
        }
        pipeline = {
            "project": "shop",
            "monitor": monitor,
            "phases": [{"name": "Release", "release": block}],
        }
        (project / "cdtui.yaml").write_text(json.dumps(pipeline))
        with embedded_router(project, block):
            yield project, blue


async def until(pilot, condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in time")
        await pilot.pause(0.05)


def shown(screen: MonitorScreen) -> str:
    return str(screen.query_one(CheckList).render())


def check(screen: MonitorScreen, name: str):
    facts = screen.facts
    return next((c for c in facts.checks if c.name == name), None) if facts else None


async def test_the_view_reads_a_running_monitor_and_can_run_one_itself(project) -> None:
    project_dir, blue = project
    app = CdtuiApp(project_dir, monitor=False)
    with MonitorProcess(project_dir) as outside:
        outside.wait_for(r"monitor started")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "console")
            app.open_monitor_view()
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen), "monitor view")
            screen: MonitorScreen = app.screen  # type: ignore[assignment]
            await until(pilot, lambda: (c := check(screen, "shop")) and c.state == "ok", "ok")
            assert screen.facts.pid == outside.proc.pid
            headline = str(screen.query_one("#service").render())
            assert f"monitor running cdtui monitor (pid {outside.proc.pid})" in headline
            assert {"router", "live", "idle", "shop"} <= {c.name for c in screen.facts.checks}
            await until(pilot, lambda: "▁" in shown(screen) or "█" in shown(screen), "spark")

            blue.fault = True
            await until(pilot, lambda: screen.facts.firing, "the alert in the view")
            assert [r.alert for r in screen.facts.firing] == ["shop-down"]
            acted = "action    notify of shop-down: done"
            await until(pilot, lambda: acted in shown(screen), "the action in the view")
            text = shown(screen)
            assert "FIRING since" in text and "shop-down: 3 failed checks in a row" in text
            assert "✗" in text and "status is 500" in text
            assert "action    notify of shop-down: done" in text

            await pilot.press("s")  # one runs already: the console does not start a second
            await pilot.pause(0.3)
            assert running_pid(project_dir) == outside.proc.pid

            blue.fault = False
            assert outside.stop() == 0
            await until(pilot, lambda: screen.facts.pid is None, "no monitor")
            assert "no monitor runs: nobody watches production" in str(
                screen.query_one("#service").render()
            )

            await pilot.press("s")
            await until(pilot, lambda: screen.facts.pid is not None and screen.facts.own, "own")
            assert "monitor running in this console" in str(screen.query_one("#service").render())
            await until(pilot, lambda: not screen.facts.firing, "resolved by the console's own")
            with MonitorProcess(project_dir) as second:
                assert second.proc.wait(20) == 4  # never a second one
                assert "a monitor already runs for this project" in second.text
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "pipeline view")
    assert running_pid(project_dir) is None  # the console's monitor ended with the console
