"""The console's notifier strip through Textual's Pilot, with a real webhook listener on
loopback: down (the sink retries, events queue), then up (delivered, ok, nothing queued); and
no strip when only the event log is configured."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from cdtui.engine.events import Status
from cdtui.notify.worker import SinkState
from cdtui.ui import clock
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.widgets.notifier_panel import NotifierPanel, describe
from tests.notify_listeners import start_http, stop_http

SIZE = (100, 30)


def write(project: Path, notify: list[dict]) -> None:
    stages = [{"name": "a", "run": "true"}, {"name": "b", "run": "true", "needs": ["a"]}]
    data = {"project": "shop", "notify": notify, "phases": [{"name": "Build", "stages": stages}]}
    (project / "cdtui.yaml").write_text(json.dumps(data))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def panel_of(app: CdtuiApp) -> NotifierPanel:
    assert isinstance(app.screen, MainScreen)
    return app.screen.query_one(NotifierPanel)


def shown(panel: NotifierPanel) -> str:
    return str(panel.content)


async def test_the_strip_shows_a_webhook_retrying_while_down_then_ok_once_up(tmp_path: Path):
    port = free_port()  # nothing listens there yet
    write(tmp_path, [{"webhook": {"url": f"http://127.0.0.1:{port}/hook"}, "on": ["all"]}])
    app = CdtuiApp(tmp_path)
    listener = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            panel = panel_of(app)
            await pilot.pause(0.1)
            assert not panel.display  # no notifier before the first run
            await pilot.press("r")
            await wait_for(pilot, lambda: app.screen.state.status is Status.SUCCEEDED)

            def retrying() -> bool:
                return bool(panel.states) and panel.states[0].state == "retrying"

            await wait_for(pilot, lambda: retrying() and panel.states[0].queued > 0)
            assert panel.display
            text = shown(panel)
            assert "webhook retrying in " in text and " queued" in text
            assert "cannot deliver (Connection refused)" in text

            listener = start_http(port)
            await wait_for(pilot, lambda: panel.states[0].state == "ok", timeout=40)
            await wait_for(pilot, lambda: panel.states[0].queued == 0)
            assert shown(panel).strip() == "notify webhook ok"
            logged = (tmp_path / ".cdtui" / "events.jsonl").read_text().splitlines()
            got = listener.wait_for(len(logged))
            assert [r.json["id"] for r in got] == [json.loads(line)["id"] for line in logged]
    finally:
        if listener is not None:
            stop_http(listener)


async def test_no_strip_when_only_the_event_log_is_configured(tmp_path: Path):
    write(tmp_path, [{"log": "events.jsonl"}])
    app = CdtuiApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.state.status is Status.SUCCEEDED)
        assert app.session is not None and app.session.notifier is not None
        await pilot.pause(0.6)  # past a refresh
        assert not panel_of(app).display
        assert (tmp_path / ".cdtui" / "events.jsonl").read_text().count("\n") >= 6


def test_each_state_reads_as_words():
    def state(word: str, queued: int = 0, dropped: int = 0, at: float | None = None):
        return SinkState("slack", "slack", word, queued, 3, dropped, 0, at, "")

    assert describe(state("ok"), 0) == ("slack ok", "success")
    assert describe(state("retrying", 12, 0, 104.4), 100) == (
        "slack retrying in 4s · 12 queued",
        "warning",
    )
    assert describe(state("ok", 0, 2), 0) == ("slack ok · 2 dropped", "warning")
    assert describe(state("failed"), 0) == ("slack failed", "error")


def test_snapshot_of_the_strip_with_sinks_in_each_state(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(clock, "now", lambda: 1_800_000_000.0)
    write(tmp_path, [])
    states = (
        SinkState("hook", "webhook", "ok", 0, 40, 0, 0, None, ""),
        SinkState("slack", "slack", "retrying", 7, 2, 0, 0, 1_800_000_012.2, "slack: HTTP 503"),
        SinkState("sns", "sns", "ok", 0, 5, 1, 0, None, ""),
    )

    async def show(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen))
        panel = panel_of(pilot.app)
        panel.source = lambda: states
        panel.poll()
        await pilot.pause(0.2)

    assert snap_compare(CdtuiApp(tmp_path), terminal_size=SIZE, run_before=show)
