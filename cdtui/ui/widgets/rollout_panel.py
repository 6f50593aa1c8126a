"""The rollout's state, step, hold countdown, plan and verdicts, under the colours."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.config.durations import format_duration
from cdtui.release.watch import ReleaseWatch
from cdtui.ui import clock
from cdtui.ui.widgets.styles import level_style


class RolloutPanel(Static):
    """State, step, hold countdown, the plan, and the analysis verdicts of each step."""

    DEFAULT_CSS = """
    RolloutPanel {
        height: auto; max-height: 9; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def draw(self, watch: ReleaseWatch, keys_hint: str = "") -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        state = "waiting" if watch.gate_waiting else watch.state or "no release yet"
        level = {"done": "success", "aborted": "error", "failed": "error"}.get(watch.state, "")
        text.append("rollout ", style="dim")
        text.append(state.upper(), style=f"bold {level_style(self, level or 'info')}")
        if watch.driverless:  # before all else: the release stands still until someone acts
            text.append(f" at {watch.step}% on idle {watch.idle}   live: {watch.live}\n")
            gone, _, ways = watch.driverless_text().partition(": ")
            text.append("DRIVERLESS", style=f"bold reverse {level_style(self, 'error')}")
            text.append(f": {gone}:\n  {ways}\n", style="bold")  # the ways out, never cut off
            text.append("plan ", style="dim")
            text.append(watch.plan_text() + "\n")
            self.update(text)
            return
        if watch.gate_waiting:
            text.append(f" at the {watch.phase} gate: press r to review and release", style="bold")
        if watch.active:
            text.append(f" at {watch.step}% on idle {watch.idle}")
            left = watch.hold_left(clock.now())
            if watch.state == "paused":
                text.append(" · PAUSED", style="bold")
            elif left is not None:
                text.append(f" · next step in {format_duration(left)}")
        text.append(f"   live: {watch.live}\n")
        if watch.reason:
            text.append(watch.reason + "\n", style="dim")
        text.append("plan ", style="dim")
        text.append(watch.plan_text() + "\n")
        for verdict in watch.verdicts[-4:]:
            text.append("  " + verdict.describe() + "\n", style=level_style(self, verdict.level))
        if keys_hint:
            text.append(keys_hint, style="dim")
        self.update(text)
