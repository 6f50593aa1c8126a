"""One colour's health: role, p50/p95 and error graphs, what it runs, its last checks.

Graphs are text sparklines scaled to the series' own maximum, so a 3 ms and a 300 ms service
both fill the height; the number beside each says the scale.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.release.watch import ColourSeries, ReleaseWatch, shown_url
from cdtui.textsafe import plain
from cdtui.ui import clock
from cdtui.ui.widgets.styles import colour_var, level_style

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], top: float | None = None) -> str:
    """One character per value; blank for no data (0 with top 0)."""
    top = max(values, default=0.0) if top is None else top
    if top <= 0:
        return " " * len(values)
    return "".join(
        BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] if v > 0 else " "
        for v in values
    )


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
                text.append(f" · {plain(deployed.artifact)} sha256:{deployed.digest[:12]}")
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
