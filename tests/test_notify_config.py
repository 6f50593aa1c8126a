"""The notify: list: located errors, shorthands, filters, and payloads masked and clamped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import cdtui.engine.events as engine_events
import cdtui.release.events as release_events
from cdtui.config import ConfigError, load_pipeline
from cdtui.config.notify import DEFAULT_ON, EVENT_KINDS
from cdtui.engine.events import Event, RunFinished, StageFinished, StageStarted, Status
from cdtui.engine.masking import SecretMasker
from cdtui.notify.filters import EventFilter
from cdtui.notify.payload import clamp, encode, to_payload
from cdtui.notify.sinks import SINKS, sink_class

PHASES = """phases:
  - name: A
    stages: [{name: a, run: "true"}]
"""


def load(tmp_path: Path, notify: str):
    path = tmp_path / "cdtui.yaml"
    path.write_text(f"project: p\nnotify:\n{notify}{PHASES}")
    return load_pipeline(path, check_secrets=False)


def errors_of(tmp_path: Path, notify: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, notify)
    return [f"{e.line}:{e.path}: {e.message}" for e in caught.value.errors]


def test_the_issue_sketch_loads_as_written(tmp_path: Path):
    pipeline = load(
        tmp_path,
        """  - {log: events.jsonl}
  - {logstash: {host: 127.0.0.1, port: 5044}, on: [all]}
  - {slack: {webhook_env: SLACK_WEBHOOK}}
  - {webhook: {url_env: HOOK_URL, secret_env: HOOK_HMAC}}
  - {sns: {topic_arn: "arn:aws:sns:eu-west-1:123456789012:deploys", region: eu-west-1}}
  - {ses: {from: ci@example.com, to: [ops@example.com], region: eu-west-1}}
  - {sqs: {queue_url: "https://sqs.eu-west-1.amazonaws.com/1/deploys", region: eu-west-1}}
""",
    )
    kinds = [entry.kind for entry in pipeline.notify]
    assert kinds == ["log", "logstash", "slack", "webhook", "sns", "ses", "sqs"]
    assert pipeline.notify[0].config.path == "events.jsonl"
    assert pipeline.notify[1].on == ["all"] and pipeline.notify[2].on is None
    assert pipeline.notify[5].config.sender == "ci@example.com"
    assert set(kinds) <= set(SINKS)


def test_bad_entries_are_located_at_their_line(tmp_path: Path):
    found = errors_of(
        tmp_path,
        """  - {slak: {webhook_env: X}}
  - {webhook: {url: "http://127.0.0.1:1/", urll: 3}}
  - {slack: {}, name: s2}
  - {webhook: {url_env: A}, logstash: {host: h, port: 1}, name: both}
  - {webhook: {url_env: A}, on: [failed, Bogus], name: w3}
  - {logstash: {host: h, port: 70000}}
""",
    )
    text = "\n".join(found)
    assert "3:notify[0].slak: unknown key 'slak' (did you mean 'slack'?)" in text
    assert "4:notify[1].webhook.urll: unknown key 'urll'" in text
    assert "5:notify[2].slack: give one of webhook_env, webhook_secret" in text
    assert "6:notify[3]: a notify entry is one sink: 'logstash' and 'webhook'" in text
    assert "7:notify[4].on: 'Bogus' is not an event kind or outcome" in text
    assert "8:notify[5].logstash.port:" in text


def test_two_sinks_of_one_name_are_refused(tmp_path: Path):
    found = errors_of(tmp_path, "  - {webhook: {url_env: A}}\n  - {webhook: {url_env: B}}\n")
    assert any("two notify entries are called 'webhook'" in line for line in found)


def test_every_logged_event_class_can_be_named_in_on():
    classes = {
        name
        for module in (engine_events, release_events)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    }
    # Output chunks are not in the event log (each stage's log file has them): not nameable.
    assert classes - {"StageOutput"} == set(EVENT_KINDS)


def test_sink_modules_load_only_when_named():
    import sys

    assert "cdtui.notify.webhook" not in sys.modules or sink_class("webhook")
    assert sink_class("slack").kind == "slack"
    with pytest.raises(KeyError, match="no sink kind 'pager'"):
        sink_class("pager")


def finished(status: Status, **kw) -> StageFinished:
    return StageFinished(7, 1.0, "Commit", "unit", 1, status, **kw)


def payload(event: Event, masker: SecretMasker | None = None, **extra) -> dict:
    return to_payload(event, project="shop", event_id="id-1", masker=masker, extra=extra)


def test_the_default_filter_is_failures_gates_releases_alerts_and_one_summary():
    hears = EventFilter(None)
    assert tuple(DEFAULT_ON) == (
        "failed",
        "gate",
        "release",
        "rollback",
        "abort",
        "alert",
        "summary",
    )
    assert hears(payload(finished(Status.FAILED, exit_code=1)))
    assert not hears(payload(finished(Status.FAILED, will_retry=True)))
    assert not hears(payload(finished(Status.SUCCEEDED)))
    assert not hears(payload(StageStarted(7, 1.0, "Commit", "unit", 1, "true")))
    assert hears(payload(RunFinished(7, 2.0, Status.SUCCEEDED)))
    only_deploy = EventFilter(["all"], stages=["deploy"])
    assert not only_deploy(payload(finished(Status.FAILED)))
    assert only_deploy(payload(RunFinished(7, 2.0, Status.FAILED)))


def test_a_payload_has_the_common_keys_and_every_string_masked():
    secret = 'pa"ss\\word-123'
    masker = SecretMasker([secret])
    event = finished(Status.FAILED, exit_code=2, reason=f"token {secret} refused")
    body = payload(event, masker, log_tail=[f"echo {secret}"])
    assert list(body)[:8] == ["kind", "id", "project", "run", "phase", "stage", "status", "at"]
    assert body["kind"] == "StageFinished" and body["run"] == 7 and body["status"] == "FAILED"
    assert "run_id" not in body and body["exit_code"] == 2
    line = encode(body).decode()
    assert secret not in line and json.dumps(secret)[1:-1] not in line
    assert body["reason"] == "token *** refused" and body["log_tail"] == ["echo ***"]
    assert {f.name for f in dataclasses.fields(event)} - {"run_id"} <= set(body)


def test_a_payload_over_the_size_clamp_is_cut_but_keeps_its_keys():
    body = payload(finished(Status.FAILED), log_tail="x" * 10_000)
    cut = clamp(body, 1024)
    assert len(encode(cut)) <= 1024 and cut["clipped"] is True
    assert cut["id"] == "id-1" and cut["stage"] == "unit"
    assert clamp(body, None) is body
