"""The live graphs of a running ``load:`` stage above its log: achieved rate against the
target, error rate, and p50/p95/p99 latency over the last seconds, one sparkline each.

Fed by ``LoadProgress`` events (one a second per load stage); it keeps the last ``HISTORY``
seconds of every load stage so selecting another stage shows its graphs at once.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import Static

from cdtui.engine.events import LoadProgress

HISTORY = 120
"""Seconds of progress kept per stage (more than any pane is wide)."""
BARS = "▁▂▃▄▅▆▇█"
LABEL = 7  # "errors " and the like
FIGURE = 22  # room for "  12345/s of 12345/s"


def sparkline(values: list[float], top: float) -> str:
    """One cell per value, eighths of ``top`` (anything above it is a full cell)."""
    if top <= 0:
        return BARS[0] * len(values)
    last = len(BARS) - 1
    return "".join(BARS[min(last, max(0, round(v / top * last)))] for v in values)


def _ms(value: float) -> str:
    return (
        f"{value:.0f} ms"
        if value >= 100
        else f"{value:.1f} ms"
        if value >= 1
        else (f"{value:.2f} ms")
    )


class LoadGraph(Static):
    """Hidden unless the stage it shows has sent load; ``show_for`` picks the stage."""

    DEFAULT_CSS = """
    LoadGraph {
        height: auto; padding: 0 1; border: round $panel; display: none;
        border-title-color: $foreground-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    LoadGraph.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: dict[tuple[str, str], deque[LoadProgress]] = {}
        self.key: tuple[str, str] | None = None

    def apply(self, event: LoadProgress) -> None:
        key = (event.phase, event.stage)
        seconds = self.history.get(key)
        if seconds is None or (seconds and seconds[-1].attempt != event.attempt):
            seconds = self.history[key] = deque(maxlen=HISTORY)  # a new attempt starts afresh
        seconds.append(event)
        if key == self.key:
            self.draw()

    def show_for(self, key: tuple[str, str] | None) -> None:
        self.key = key
        self.draw()

    def draw(self) -> None:
        seconds = self.history.get(self.key) if self.key else None
        self.set_class(bool(seconds), "-shown")
        if not seconds:
            return
        width = max(8, (self.size.width or 80) - 4 - LABEL - FIGURE)
        shown = list(seconds)[-width:]
        last = shown[-1]
        self.border_title = self.title_for(last)
        self.update(self.rows(shown))

    @staticmethod
    def title_for(last: LoadProgress) -> str:
        left = max(0, round(last.duration - last.second))
        failed = f", {last.failed:,} failed" if last.failed else ""
        return (
            f"load · {last.second}s of {last.duration:g}s, {left}s left · "
            f"{last.requests:,} requests{failed}"
        )

    @staticmethod
    def rows(shown: list[LoadProgress]) -> Text:
        last = shown[-1]
        rates = [p.rate for p in shown]
        errors = [p.error_rate for p in shown]
        top_rate = max([*rates, *(p.target_rate for p in shown), 1.0])
        top_latency = max([p.p99 for p in shown] + [0.001])
        target = f" of {last.target_rate:.0f}/s" if last.target_rate else ""
        under = last.target_rate and last.rate < 0.95 * last.target_rate
        lines = [
            (
                "rate",
                sparkline(rates, top_rate),
                f"{last.rate:.0f}/s{target}",
                "bold yellow" if under else "green",
            ),
            (
                "errors",
                sparkline(errors, max([*errors, 0.01])),
                f"{last.error_rate:.1%}",
                "bold red" if last.error_rate else "green",
            ),
            ("p50", sparkline([p.p50 for p in shown], top_latency), _ms(last.p50), "cyan"),
            ("p95", sparkline([p.p95 for p in shown], top_latency), _ms(last.p95), "cyan"),
            ("p99", sparkline([p.p99 for p in shown], top_latency), _ms(last.p99), "magenta"),
        ]
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (label, line, figure, style) in enumerate(lines):
            if index:
                text.append("\n")
            text.append(f"{label:<{LABEL}}", style="bold")
            text.append(line, style=style)
            text.append(f"  {figure}")
        return text
