"""A read-only console follows a store another cdtui writes, and re-reads it only on a change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cdtui.engine.events import RunFinished, RunStarted, Status
from cdtui.engine.state import RunState
from cdtui.store import RunStore
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen

SIZE = (100, 30)
PIPELINE = "project: demo\nphases:\n  - name: P\n    stages:\n      - {name: s, run: 'true'}\n"


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def finished_run(store: RunStore, status: Status) -> int:
    run_id = store.begin_run("demo", "elsewhere", "test")
    store.record(RunStarted(run_id, time.time(), "demo", ("P",), "elsewhere"))
    store.record(RunFinished(run_id, time.time(), status))
    return run_id


async def test_an_idle_read_only_console_does_not_rebuild_the_run_every_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "cdtui.yaml").write_text(PIPELINE)
    other = RunStore(tmp_path)  # another cdtui: its own SQLite connection
    first = finished_run(other, Status.SUCCEEDED)
    rebuilds: list[int] = []
    polls: list[float] = []
    real_from_store = RunState.from_store.__func__
    real_poll = MainScreen._poll_store

    def counting_from_store(cls, store, run_id, pipeline=None):
        rebuilds.append(run_id)
        return real_from_store(cls, store, run_id, pipeline)

    def counting_poll(self) -> None:
        polls.append(time.monotonic())
        real_poll(self)

    monkeypatch.setattr(RunState, "from_store", classmethod(counting_from_store))
    monkeypatch.setattr(MainScreen, "_poll_store", counting_poll)
    app = CdtuiApp(tmp_path, readonly=True, monitor=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(polls) >= 5)  # five polls of an idle store
            assert rebuilds == [first]  # the one read when the console opened
            assert app.screen.state.status is Status.SUCCEEDED

            second = finished_run(other, Status.FAILED)  # the other cdtui writes
            await wait_for(pilot, lambda: app.screen.state.run_id == second)
            assert app.screen.state.status is Status.FAILED
            seen = len(rebuilds)
            settled = len(polls)
            await wait_for(pilot, lambda: len(polls) >= settled + 3)
            assert len(rebuilds) == seen  # quiet again: no more reads
    finally:
        other.close()
