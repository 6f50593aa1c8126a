"""One front door: a release, a rollback and an alert fire the same kinds of event on the bus
whether the console or the CLI started them (read back from the event log every session
writes), and each is recorded as a run of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import faulty_server
from routing_fixtures import embedded_router, free_port, wait_for
from test_release_console import SIZE, Setup, confirm, open_release_view, write
from test_release_console import wait_for as wait_in_console
from test_release_rollout import fast

from cdtui.release.routers import Weights
from cdtui.store import RunStore
from cdtui.ui.app import CdtuiApp

CLI = [sys.executable, "-m", "cdtui.cli"]
NOISE = {"HealthSampled", "WeightChanged"}  # how many depends on timing, never whether


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port(), hold=0.3)
        write(tmp_path, block)
        with embedded_router(tmp_path, block) as router:
            yield Setup(tmp_path, block, router, blue, green)


def kinds_by_selection(project: Path) -> dict[str, list[set[str]]]:
    """For each run's selection (``release``, ``console: rollback``, ...), its event kinds."""
    by_run: dict[int, set[str]] = defaultdict(set)
    for line in (project / ".cdtui" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("run"):
            by_run[int(event["run"])].add(event["kind"])
    found: dict[str, list[set[str]]] = defaultdict(list)
    with RunStore(project) as store:
        for run in store.recent_runs(50):
            found[run.selection].append(by_run[run.id] - NOISE)
    return found


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=90)


async def test_the_console_and_the_cli_fire_the_same_kinds_of_event(setup: Setup):
    project = str(setup.project)
    # -- the console: release, roll back, a release that aborts (an alert) --------------------
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_release_view(pilot, app)
        await wait_in_console(pilot, lambda: view.watch.colours["green"].known, what="checked")
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_in_console(pilot, lambda: view.watch.state == "done", 30, "released")
        await wait_in_console(pilot, lambda: not app.session.running, what="run ended")
        await pilot.press("b")
        await confirm(pilot, app)
        await wait_in_console(pilot, lambda: setup.weights() == Weights.ALL_BLUE, what="back")
        await wait_in_console(pilot, lambda: view.watch.state == "rolled back", what="shown")
        setup.block["hold"] = 30
        write(setup.project, setup.block)
        await pilot.pause(1.2)  # the console reloads the pipeline file it watches
        await pilot.press("r")
        await confirm(pilot, app)
        await wait_in_console(pilot, lambda: view.watch.state == "step", what="first step")
        setup.green.fault = True
        await wait_in_console(pilot, lambda: view.watch.state == "aborted", 30, "aborted")
        await wait_in_console(pilot, lambda: not app.session.running, what="run ended")
    setup.green.fault = False
    # -- the CLI: the same three -------------------------------------------------------------
    setup.block["hold"] = 0.3
    write(setup.project, setup.block)
    released = cli("release", project, "--yes")
    assert released.returncode == 0, released.stdout + released.stderr
    back = cli("rollback", project, "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    setup.block["hold"] = 30
    write(setup.project, setup.block)
    aborting = subprocess.Popen(
        [*CLI, "release", project, "--yes"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wait_for(lambda: setup.weights().green > 0, 30, "the CLI's first step")
    setup.green.fault = True
    aborting.communicate(timeout=60)
    assert aborting.returncode == 1
    assert setup.weights() == Weights.ALL_BLUE

    found = kinds_by_selection(setup.project)
    console_releases, cli_releases = found["console: release"], found["release"]
    assert len(console_releases) == 2 and len(cli_releases) == 2
    good, aborted = console_releases[-1], console_releases[0]  # newest first
    assert cli_releases[-1] == good, cli_releases[-1] ^ good
    assert cli_releases[0] == aborted, cli_releases[0] ^ aborted
    assert {"ReleaseStateChanged", "StageStarted", "StageFinished", "GateApproved"} <= good
    assert "AlertRaised" in aborted and "AlertRaised" not in good
    (console_rollback,), (cli_rollback,) = found["console: rollback"], found["rollback"]
    assert console_rollback == cli_rollback, console_rollback ^ cli_rollback
    assert "ReleaseStateChanged" in cli_rollback
