"""Delivery through real listeners on loopback: webhook (HMAC, 429 + Retry-After), Slack (one
message per run outcome), logstash (stopped mid-run and back: every event once, in order)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from cdtui.engine.engine import EngineOptions
from cdtui.engine.events import Event, StageFinished, Status
from cdtui.session import Session
from tests import notify_listeners
from tests.notify_listeners import HttpListener, LineListener

http_listener = notify_listeners.http_listener  # the fixture

SECRET = "s3cret-Value-42"
HMAC_KEY = "hmac-key-for-tests"


def write(project: Path, notify: list[dict[str, Any]], stages: list[dict[str, Any]]) -> None:
    data = {
        "project": "shop",
        "secrets": {"TOKEN": {"env": "NOTIFY_TEST_TOKEN"}},
        "notify": notify,
        "phases": [{"name": "Build", "stages": stages}],
    }
    (project / "cdtui.yaml").write_text(json.dumps(data))


async def run_once(project: Path, watch: list | None = None) -> tuple[Session, Status]:
    session = Session(project)
    assert session.load() == []
    session.start(session.plan(), list(watch or []), options=EngineOptions())
    status = await session.task
    return session, status


async def finish(session: Session) -> None:
    await session.bus.close()
    assert session.notifier is not None
    await session.notifier.aclose()
    session.close()


async def sink_state_becomes(session: Session, word: str, within: float = 10.0):
    """The first sink's state once it is ``word`` (the shipper reports on change)."""
    assert session.notifier is not None
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = session.notifier.snapshot()[0]
        if state.state == word or asyncio.get_running_loop().time() > deadline:
            assert state.state == word, state
            return state
        await asyncio.sleep(0.02)


def logged(project: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in (project / ".cdtui" / "events.jsonl").read_text().split("\n")
        if line
    ]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_TEST_TOKEN", SECRET)
    monkeypatch.setenv("NOTIFY_TEST_HMAC", HMAC_KEY)


async def test_webhook_bodies_are_signed_masked_in_order_and_429_waits_for_retry_after(
    tmp_path: Path, http_listener: HttpListener, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NOTIFY_TEST_HOOK", http_listener.url + "/hook/" + SECRET)
    http_listener.script = [(429, {"Retry-After": "1"}), (200, {}), (503, {})]
    write(
        tmp_path,
        [
            {
                "webhook": {"url_env": "NOTIFY_TEST_HOOK", "secret_env": "NOTIFY_TEST_HMAC"},
                "on": ["all"],
            }
        ],
        [{"name": "a", "run": "echo token=$TOKEN"}, {"name": "b", "run": "exit 3", "needs": ["a"]}],
    )
    session, status = await run_once(tmp_path)
    assert status is Status.FAILED
    events = logged(tmp_path)
    got = await asyncio.to_thread(http_listener.wait_for, len(events) + 2)
    await finish(session)
    delivered = [r for r in got if r.headers.get("X-Cdtui-Event")]
    # The 429 and the 503 were retried: every event arrived, once each after its retries, in order.
    ids = list(dict.fromkeys(r.json["id"] for r in delivered))
    assert ids == [e["id"] for e in events]
    assert got[1].at - got[0].at >= 1.0, "the 429's Retry-After: 1 was not honoured"
    for request in delivered:
        expected = "sha256=" + hmac.new(HMAC_KEY.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Cdtui-Signature"] == expected
        assert SECRET.encode() not in request.body
    failed = next(e for e in events if e["kind"] == "StageFinished" and e["stage"] == "b")
    assert failed["status"] == "FAILED" and failed["log_command"] == "cdtui logs 1 b"


async def test_slack_gets_one_message_per_run_with_the_failing_stage_and_its_last_lines(
    tmp_path: Path, http_listener: HttpListener, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NOTIFY_TEST_SLACK", http_listener.url + "/services/T0/B0/" + SECRET)
    stages = [{"name": f"ok{i}", "run": f"echo {i}"} for i in range(3)] + [
        {"name": "deploy", "run": "for i in $(seq 1 40); do echo line $i $TOKEN; done; exit 4"}
    ]
    write(tmp_path, [{"slack": {"webhook_env": "NOTIFY_TEST_SLACK", "log_lines": 5}}], stages)
    session, status = await run_once(tmp_path)
    assert status is Status.FAILED
    (message,) = await asyncio.to_thread(http_listener.wait_for, 1)
    await asyncio.sleep(0.3)  # nothing else may follow: one message for the run, not per stage
    await finish(session)
    assert len(http_listener.requests) == 1
    body = message.body.decode()
    assert SECRET not in body
    blocks = message.json["blocks"]
    text = json.dumps(blocks)
    assert "shop run 1 FAILED" in message.json["text"]
    assert "*Build / deploy* FAILED (exit 4)" in text
    assert "line 40 ***" in text and "line 35" not in text  # the last 5 lines, masked
    assert "`cdtui logs 1 deploy`" in text
    assert len(blocks) <= 50


async def test_logstash_stopped_mid_run_gets_every_event_once_in_order_when_back(
    tmp_path: Path,
):
    listener = LineListener()
    await listener.start()
    stages = [{"name": f"s{i}", "run": f"echo {i}; sleep 0.05"} for i in range(12)]
    for i in range(1, 12):
        stages[i]["needs"] = [f"s{i - 1}"]
    notify = [{"logstash": {"host": "127.0.0.1", "port": listener.port}, "on": ["all"]}]
    write(tmp_path, notify, stages)
    stopped: list[bool] = []

    def stop_at_s4(event: Event) -> None:
        """At s4's end or the first stage's end after, once the listener heard something."""
        late = isinstance(event, StageFinished) and int(event.stage[1:]) >= 4
        if late and not stopped and listener.lines:
            listener.stop()
            stopped.append(True)

    session, status = await run_once(tmp_path, [stop_at_s4])
    # The run ended while logstash was still down: a dead sink never holds a run.
    assert status is Status.SUCCEEDED and stopped
    assert session.notifier is not None
    # The log is written in batches (~10 ms) and delivered after: the state comes a moment later.
    state = await sink_state_becomes(session, "retrying")
    assert state.next_try is not None
    assert "127.0.0.1" not in state.last_error
    before = len(listener.lines)
    await listener.start()
    events = logged(tmp_path)
    lines = await listener.wait_for(len(events))
    await finish(session)
    assert before < len(events), "the listener was not stopped mid-run"
    assert [line["id"] for line in lines] == [e["id"] for e in events]
    assert listener.accepted >= 2
