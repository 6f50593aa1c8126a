"""The release view's parts, each drawn from a ReleaseWatch: the traffic bar, one panel per
colour (graphs, last checks, what it runs), the rollout's state and the timeline.

Graphs are text sparklines scaled to the series' own maximum, so a 3 ms and a 300 ms service
both fill the height; the number beside each says the scale.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.config.durations import format_duration
from cdtui.release.watch import ColourSeries, Moment, ReleaseWatch, shown_url
from cdtui.ui import clock

BARS = "▁▂▃▄▅▆▇█"
LEVEL_VAR = {
    "success": "status-success",
    "error": "status-failed",
    "warning": "status-waiting",
    "info": "",
}


def sparkline(values: list[float], top: float | None = None) -> str:
    """One character per value; blank for no data (0 with top 0)."""
    top = max(values, default=0.0) if top is None else top
    if top <= 0:
        return " " * len(values)
    return "".join(
        BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] if v > 0 else " "
        for v in values
    )


def colour_var(widget: Static, colour: str) -> str:
    return widget.app.theme_variables.get(f"colour-{colour}", colour)


def level_style(widget: Static, level: str) -> str:
    var = LEVEL_VAR.get(level, "")
    return widget.app.theme_variables.get(var, "") if var else ""


class TrafficBar(Static):
    """blue % | green %, as the router reads them back."""

    DEFAULT_CSS = """
    TrafficBar {
        height: 3; padding: 0 1; border: round $panel; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def draw(self, watch: ReleaseWatch) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        width = max(10, self.size.width - 2 - 26)
        weights = watch.weights
        blue_style = f"bold {colour_var(self, 'blue')}"
        green_style = f"bold {colour_var(self, 'green')}"
        if weights is None:
            text.append("split unknown: ", style="bold")
            text.append(watch.router_error or "reading the router…", style="dim")
            self.update(text)
            return
        cells = round(width * weights.blue / 100)
        text.append(f"BLUE {weights.blue:>3}% ", style=blue_style)
        text.append("█" * cells, style=colour_var(self, "blue"))
        text.append("▓" * (width - cells), style=colour_var(self, "green"))  # apart in mono too
        text.append(f" {weights.green:>3}% GREEN", style=green_style)
        if watch.asked is not None and watch.asked != weights:
            text.append(f"  → {watch.asked.green}%", style="bold")
        if watch.router_error:
            text.append("  router: " + watch.router_error, style="bold red")
        self.update(text)
        self.border_title = f"traffic (read back from the {watch.spec.router.kind} router)"


class ColourPanel(Static):
    """One colour: role, health, latency p50/p95 and error graphs, what it runs, last checks."""

    DEFAULT_CSS = """
    ColourPanel {
        width: 1fr; height: 1fr; border: round $panel; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, colour: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.colour = colour

    def draw(self, watch: ReleaseWatch, series: ColourSeries | None = None, role: str = "") -> None:
        series = series or watch.colours[self.colour]
        role = role or ("live" if watch.live == self.colour else "idle")
        tint = colour_var(self, self.colour) if self.colour in ("blue", "green") else ""
        self.border_title = f"{self.colour} · {role}"
        self.styles.border = ("round", tint or "grey")
        text = Text(no_wrap=True, overflow="ellipsis")
        good = level_style(self, "success" if series.healthy else "error")
        text.append(series.summary() + "\n", style=f"bold {good}" if series.known else "dim")
        width = max(8, self.size.width - 4 - 14)
        now = clock.now()
        p50 = series.series("p50", width, now)
        p95 = series.series("p95", width, now)
        errors = series.series("errors", width, now)
        top = max(p95 + p50, default=0.0)
        text.append("p95 ", style="dim")
        text.append(sparkline(p95, top), style=tint)
        text.append(f" {p95[-1]:6.0f} ms\n" if p95 else "\n")
        text.append("p50 ", style="dim")
        text.append(sparkline(p50, top), style=tint)
        text.append(f" {p50[-1]:6.0f} ms\n" if p50 else "\n")
        text.append("err ", style="dim")
        text.append(sparkline(errors, 1.0), style=level_style(self, "error"))
        text.append(f" {errors[-1]:7.0%}\n" if errors else "\n")
        deployed = watch.deployed.get(self.colour)
        if series.version or (deployed is not None and deployed.digest):
            text.append("runs ", style="dim")
            text.append(f"version {series.version or '?'}", style="bold")
            if deployed is not None and deployed.digest:
                text.append(f" · {deployed.artifact} sha256:{deployed.digest[:12]}")
                if deployed.run_id is not None:
                    text.append(f" · built by run #{deployed.run_id}", style="dim")
            text.append("\n")
        url = {"blue": watch.spec.blue.url, "green": watch.spec.green.url}.get(self.colour, "")
        if url:
            text.append(f"{shown_url(url)}{watch.spec.health.path}\n", style="dim")
        for check in list(series.recent)[-6:][::-1]:
            style = "" if check.ok else level_style(self, "error")
            text.append(check.describe() + "\n", style=style)
        self.update(text)


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


class MomentList(Static):
    """A list of moments (timeline or alerts), newest last, cut to the space it has."""

    DEFAULT_CSS = """
    MomentList {
        height: 1fr; border: round $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def draw(self, moments: list[Moment], empty: str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        room = max(1, self.size.height - 2)
        if not moments:
            text.append(empty, style="dim")
        for moment in moments[-room:]:
            text.append(moment.describe() + "\n", style=level_style(self, moment.level))
        self.update(text)
