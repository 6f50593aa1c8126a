"""Slack incoming webhook: one Block Kit message per run outcome, gate, abort or alert.

A run's failures ride in its one summary (stage, status, reason, the last lines of its output,
the ``cdtui logs`` command), so a failing pipeline is one message, not one per stage. Slack
takes about one message a second per webhook: ``rate`` 1/s with a burst of 3, 429s wait for
their ``Retry-After``; identical messages within five minutes go once. Blocks are clamped to
Slack's limits (50 blocks, 3,000 characters a section).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cdtui.config.notify import SlackConfig
from cdtui.notify.base import Payload, Sink, SinkContext
from cdtui.notify.http import Client

MAX_BLOCKS = 50
MAX_SECTION = 3000
_ICONS = {"SUCCEEDED": ":white_check_mark:", "FAILED": ":x:", "TIMED_OUT": ":hourglass:"}


def _clip(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 12] + " …[clipped]"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f}s"


def headline(p: Payload) -> str:
    """One line a phone's notification shows (Slack's ``text`` fallback)."""
    where = f"{p.get('project')} run {p.get('run')}"
    kind, status = p["kind"], p.get("status", "")
    if kind == "RunFinished":
        return (
            f"{_ICONS.get(status, ':warning:')} {where} {status} in {_duration(p.get('duration'))}"
        )
    if kind == "GateWaiting":
        return f":raised_hand: {where} waits for approval at {p.get('phase')}"
    if kind == "ReleaseStateChanged":
        return f":traffic_light: {where}: release {p.get('state')} at step {p.get('step')}"
    if kind == "NotifyTest":
        return f":wave: {p.get('text')}"
    if kind in ("AlertRaised", "AlertFired"):
        return f":rotating_light: {p.get('project')}: {p.get('text')}"
    if kind == "AlertResolved":
        return f":white_check_mark: {p.get('project')}: {p.get('text')}"
    place = " / ".join(str(p[k]) for k in ("phase", "stage") if p.get(k))
    return f"{where}: {kind} {place} {status}".strip()


def blocks(p: Payload, log_lines: int) -> list[dict[str, Any]]:
    """The message: a headline, the common fields, then each failure with its log tail."""
    out: list[dict[str, Any]] = [_section(f"*{headline(p)}*")]
    fields = [("Project", p.get("project")), ("Run", p.get("run"))]
    fields += [(k.title(), p.get(k)) for k in ("phase", "stage", "status") if p.get(k)]
    if p.get("duration") is not None:
        fields.append(("Duration", _duration(p["duration"])))
    out.append(
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(f"*{k}*\n{v}", 2000)} for k, v in fields],
        }
    )
    told = ("AlertRaised", "AlertFired", "AlertResolved")  # the headline holds their text
    reason = p.get("reason") or (p.get("text") if p["kind"] not in told else "")
    if reason:
        out.append(_section(f"_{reason}_"))
    if p.get("next_stages"):
        out.append(_section("Approving runs: " + ", ".join(p["next_stages"])))
    for failure in p.get("failures") or []:
        out += _failure(failure, log_lines)
    if len(out) > MAX_BLOCKS:
        out = [*out[: MAX_BLOCKS - 1], _section("…more in `cdtui events`")]
    return out


def _failure(f: dict[str, Any], log_lines: int) -> list[dict[str, Any]]:
    code = f" (exit {f['exit_code']})" if f.get("exit_code") is not None else ""
    text = f"*{f.get('phase')} / {f.get('stage')}* {f.get('status')}{code}"
    if f.get("reason"):
        text += f": {f['reason']}"
    found = [_section(text)]
    tail = (f.get("log_tail") or [])[-log_lines:] if log_lines else []
    if tail:
        body = "\n".join(tail).replace("```", "'''")
        found.append(_section("```" + body[-(MAX_SECTION - 8) :] + "```"))
    if f.get("log_command"):
        found.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{f['log_command']}`"}]}
        )
    return found


class SlackSink(Sink):
    kind = "slack"
    rate = 1.0
    burst = 3
    dedupe = 300.0
    default_on = ("summary", "gate", "rollback", "abort", "alert")

    def __init__(self, name: str, config: SlackConfig, context: SinkContext | None = None) -> None:
        super().__init__(name, config, context)
        assert context is not None
        url = context.secret(name, config.webhook_env, config.webhook_secret, "the webhook URL")
        self.url: str = url or ""
        self.client = Client(self.url)

    def secret_values(self) -> list[str]:
        return [self.url]

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        (payload,) = payloads
        message = {
            "text": _clip(headline(payload)),
            "blocks": blocks(payload, self.config.log_lines),
        }
        body = json.dumps(message, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        return await self.client.post(self.name, body, headers, self.config.timeout)

    async def close(self) -> None:
        self.client.drop()
