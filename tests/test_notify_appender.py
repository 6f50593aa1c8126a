"""The event log written in batches (``cdtui.notify.appender``): a burst of events is a few writes,
every event still lands in order before any sink sees it, nothing waits without a loop, and a
loop that ends before its batch is written loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cdtui.engine.events import Notice
from cdtui.notify.outbox import EventLog
from tests.notify_listeners import HttpListener
from tests.test_notify_fast import http_listener, notifier_for, texts, wait_until

__all__ = ["http_listener"]  # (the fixture, used by name)


def logged_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


async def test_a_burst_is_a_few_writes_in_order_and_every_event_is_delivered(
    tmp_path: Path, http_listener: HttpListener, monkeypatch: pytest.MonkeyPatch
):
    writes: list[int] = []
    real = EventLog.append_lines

    def counted(self: EventLog, lines: list[bytes]) -> tuple[int, int]:
        writes.append(len(lines))
        return real(self, lines)

    monkeypatch.setattr(EventLog, "append_lines", counted)
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook")
    sent = [f"b{i}" for i in range(300)]
    for i, text in enumerate(sent):
        bus.emit(Notice(1, time.time(), "info", text))
        if i % 50 == 49:
            await asyncio.sleep(0)  # the loop turns, as it does between a run's stages
    await wait_until(lambda: len(http_listener.requests) == len(sent))
    assert logged_texts(notifier.log.path) == sent
    assert texts(http_listener) == sent  # each once, in order, after it was in the log
    assert sum(writes) == len(sent) and len(writes) <= len(sent) / 10, writes  # (not one each)
    await notifier.aclose()


async def test_settle_writes_what_waits_before_it_looks(tmp_path: Path, http_listener):
    notifier, bus = notifier_for(tmp_path, http_listener.url + "/hook")
    bus.emit(Notice(1, time.time(), "info", "last words"))
    assert await notifier.settle(10.0)
    assert texts(http_listener) == ["last words"]
    await notifier.aclose()


def test_without_a_running_loop_each_event_is_written_at_once(tmp_path: Path):
    notifier, bus = notifier_for(tmp_path, "http://127.0.0.1:9/hook")
    bus.emit(Notice(1, time.time(), "info", "now"))
    assert logged_texts(notifier.log.path) == ["now"]
    notifier.close()


def test_a_loop_that_ends_before_its_batch_is_written_loses_nothing(tmp_path: Path):
    """The process exits (no close, no settle) with events still waiting: written at exit."""
    script = textwrap.dedent(
        f"""
        import asyncio, time
        from pathlib import Path
        from cdtui.engine.events import Notice
        from tests.test_notify_fast import notifier_for

        async def main():
            notifier, bus = notifier_for(Path({str(tmp_path)!r}), "http://127.0.0.1:9/hook")
            for i in range(5):
                bus.emit(Notice(1, time.time(), "info", f"x{{i}}"))
            print(notifier.log.path, flush=True)

        asyncio.run(main())
        """
    )
    env = {**os.environ, "CDTUI_STATE_DIR": ".cdtui"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert logged_texts(Path(done.stdout.strip())) == [f"x{i}" for i in range(5)]
