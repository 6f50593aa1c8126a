"""The monitor's checks, one line each: state, a sparkline of its recent checks (height is
latency, ``✗`` a failure, ``?`` a checker that could not run), target and why it fails; then the
alerts firing and the latest alert changes and actions."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from cdtui.monitor.view import MonitorFacts
from cdtui.textsafe import plain
from cdtui.ui.widgets.styles import level_style

SPARK_WIDTH = 30
_STATE_LEVEL = {"ok": "success", "failed": "error", "no_answer": "error", "checker": "warning"}


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


class CheckList(Static):
    DEFAULT_CSS = """
    CheckList {
        height: 1fr; border: round $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def draw(self, facts: MonitorFacts) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if not facts.checks:
            text.append("no checks shown: no monitor has run here yet\n", style="dim")
        for check in facts.checks:
            level = _STATE_LEVEL.get(check.state, "info")
            text.append(f"{check.name:<12.12} ", style="bold")
            text.append(f"{check.state:<13.13} ", style=level_style(self, level))
            for char, outcome in check.spark(SPARK_WIDTH):
                style = level_style(self, _STATE_LEVEL.get(outcome, "info"))
                text.append(char, style=style)
            text.append(f"  {plain(check.target)}")
            if check.detail and check.state != "ok":
                text.append(f"  {plain(check.detail)}", style=level_style(self, level))
            text.append("\n")
        for row in facts.firing:
            text.append(
                f"FIRING since {_clock(row.fired_at)}  {plain(row.text)}\n",
                style=level_style(self, "error" if row.level == "error" else "warning"),
            )
        changes = [
            (r.at, f"{r.state:<9} {r.text}", r.state)
            for r in facts.history
            if r.state != "evidence"
        ]
        changes += [
            (a.at, f"action    {a.action} of {a.alert}: {a.outcome}: {a.reason}", "action")
            for a in facts.actions
        ]
        room = max(0, self.size.height - 2 - len(facts.checks) - len(facts.firing))
        for at, line, kind in sorted(changes)[-room:] if room else []:
            level = {"resolved": "success", "firing": "error", "action": "info"}.get(kind, "info")
            text.append(f"{_clock(at)}  {plain(line)}\n", style=level_style(self, level))
        self.update(text)
