"""The notifier's fast path against real listeners on loopback: one kept-alive connection per
webhook (and a new one when the server hangs up), events handed over in memory with the log
read back when memory no longer continues (an overflowing queue, another process's lines), and
the cursor saved on stop."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from cdtui.config.models import Pipeline
from cdtui.engine.bus import EventBus
from cdtui.engine.events import Notice
from cdtui.notify import worker as worker_module
from cdtui.notify.notifier import Notifier
from cdtui.notify.outbox import Cursor, EventLog
from cdtui.notify.payload import new_id
from tests import notify_listeners
from tests.notify_listeners import HttpListener

http_listener = notify_listeners.http_listener  # the fixture


def notifier_for(project: Path, url: str, on: list[str] | None = None) -> tuple[Notifier, EventBus]:
    pipeline = Pipeline.model_validate(
        {
            "project": "shop",
            "notify": [{"webhook": {"url": url}, "on": on or ["all"]}],
            "phases": [{"name": "P", "stages": [{"name": "a", "run": "true"}]}],
        }
    )
    bus = EventBus()
    notifier = Notifier(pipeline, project, {})  # (conftest: the state dir is .cdtui)
    notifier.attach(bus)
    return notifier, bus


async def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def texts(listener: HttpListener) -> list[str]:
    return [r.json["text"] for r in listener.requests]


async def test_one_connection_is_kept_and_replaced_when_the_server_hangs_up(
    tmp_path: Path, http_listener: HttpListener
):
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook")
    for i in range(5):
        bus.emit(Notice(1, time.time(), "info", f"n{i}"))
        await asyncio.sleep(0.01)
    await wait_until(lambda: len(http_listener.requests) == 5)
    assert len(http_listener.peers) == 1
    http_listener.hangups = 1  # the next answer closes its connection without a word
    for i in range(5, 8):
        bus.emit(Notice(1, time.time(), "info", f"n{i}"))
        await wait_until(lambda i=i: len(http_listener.requests) == i + 1)
        await asyncio.sleep(0.05)  # (the FIN reaches the client between posts)
    assert texts(http_listener) == [f"n{i}" for i in range(8)]
    assert len(http_listener.peers) == 2
    (worker,) = notifier.workers
    assert worker.sink.client.connects == 2  # type: ignore[attr-defined]
    await notifier.aclose()


async def test_an_overflowing_queue_and_another_process_lines_are_read_back_from_the_log(
    tmp_path: Path, http_listener: HttpListener, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(worker_module, "MEMORY_QUEUE", 3)
    http_listener.script = [(503, {"Retry-After": "1"})]  # down for a second
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook")
    other = EventLog(notifier.log.path)  # a second cdtui appending to the same project
    bus.emit(Notice(1, time.time(), "info", "e0"))
    await wait_until(lambda: notifier.workers[0].state == "retrying")
    for i in range(1, 12):
        bus.emit(Notice(1, time.time(), "info", f"e{i}"))
        if i == 5:  # (this cdtui's events are in the log by now: they wait ~10 ms at most)
            notifier.appender.flush()
            other.append({"kind": "Notice", "id": new_id(time.time()), "text": "theirs"})
    notifier.appender.flush()
    state = notifier.snapshot()[0]
    assert state.state == "retrying" and state.queued >= 3 and state.next_try is not None
    want = [f"e{i}" for i in range(6)] + ["theirs"] + [f"e{i}" for i in range(6, 12)]
    await wait_until(lambda: len(http_listener.requests) >= len(want) + 1)
    await asyncio.sleep(0.2)  # nothing more arrives: every event exactly once
    assert texts(http_listener) == ["e0", *want]  # e0 twice: the 503, then its retry
    assert notifier.snapshot()[0].state == "ok" and notifier.snapshot()[0].queued == 0
    await notifier.aclose()
    other.close()
    cursor = json.loads((tmp_path / ".cdtui" / "notify" / "webhook.cursor").read_text())
    assert cursor["offset"] == notifier.log.size()  # saved on stop
    assert cursor["id"] == json.loads(notifier.log.path.read_text().splitlines()[-1])["id"]


async def test_the_cursor_is_not_rewritten_for_every_event(
    tmp_path: Path, http_listener: HttpListener, monkeypatch: pytest.MonkeyPatch
):
    saves: list[int] = []
    real_save = Cursor.save

    def counted(self: Cursor, offset: int, last_id: str) -> None:
        saves.append(offset)
        real_save(self, offset, last_id)

    monkeypatch.setattr(Cursor, "save", counted)
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook")
    began = time.monotonic()
    for i in range(60):
        bus.emit(Notice(1, time.time(), "info", f"c{i}"))
        await asyncio.sleep(0.002)  # one at a time, as a run's events come
    await wait_until(lambda: len(http_listener.requests) == 60)
    took = time.monotonic() - began
    # at most one save per SAVE_EVERY while busy (plus the first one and a last idle one)
    assert len(saves) <= took / worker_module.SAVE_EVERY + 3 < 60
    await notifier.aclose()
    assert saves[-1] == notifier.log.size()  # and the last one on stop


async def test_events_a_sink_does_not_want_never_wake_it_and_the_cursor_passes_them(
    tmp_path: Path, http_listener: HttpListener
):
    """A quiet run (no failure) under the default filter wakes no worker, yet the cursor ends at
    the log's end, and a wanted event after them is delivered at once."""
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook", on=["failed"])
    (worker,) = notifier.workers
    bus.emit(Notice(1, time.time(), "info", "first"))  # starts the worker
    await wait_until(lambda: worker.offset == notifier.log.size())
    await asyncio.sleep(0.05)  # it is asleep now
    woken = []
    real_set = worker.wake.set
    worker.wake.set = lambda: (woken.append(1), real_set())  # type: ignore[method-assign]
    for i in range(50):
        bus.emit(Notice(1, time.time(), "info", f"quiet {i}"))
    assert woken == [] and worker.offset == notifier.log.size()
    bus.emit(Notice(1, time.time(), "error", "it broke"))  # an error notice is a failure
    await wait_until(lambda: len(http_listener.requests) == 1)
    assert woken == [1] and texts(http_listener) == ["it broke"]
    await notifier.aclose()
    cursor = json.loads((tmp_path / ".cdtui" / "notify" / "webhook.cursor").read_text())
    assert cursor["offset"] == notifier.log.size()
