"""One line under the header: how each notify sink is doing (ok, retrying and when, queued,
dropped), so a Slack that is down is seen in the console, not discovered after the release.

It reads ``Notifier.snapshot()`` on its own timer (the states are plain tuples, cheap to take)
and hides itself when no sink besides the event log is configured: the log cannot fall behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from cdtui.notify.worker import SinkState
from cdtui.ui import clock
from cdtui.ui.widgets.styles import level_style

REFRESH = 0.5  # seconds between looks at the sinks
LEVEL = {"ok": "success", "retrying": "warning", "failed": "error"}


def describe(state: SinkState, now: float) -> tuple[str, str]:
    """(words, level) for one sink: ``slack retrying in 4s · 12 queued · 1 dropped``."""
    words = f"{state.name} {state.state}"
    if state.state == "retrying" and state.next_try is not None:
        words += f" in {max(0, round(state.next_try - now))}s"
    if state.queued:
        words += f" · {state.queued} queued"
    if state.dropped:
        words += f" · {state.dropped} dropped"
    level = LEVEL.get(state.state, "info")
    if state.state == "ok" and state.dropped:
        level = "warning"
    return words, level


class NotifierPanel(Static):
    """``source`` gives the sinks' states now (empty while no notifier runs)."""

    DEFAULT_CSS = """
    NotifierPanel { height: 1; padding: 0 1; background: $panel; color: $foreground; }
    NotifierPanel.-hidden { display: none; }
    """

    def __init__(self, source: Callable[[], Sequence[SinkState]], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source = source
        self.states: tuple[SinkState, ...] = ()
        self.add_class("-hidden")

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(REFRESH, self.poll)

    def poll(self) -> None:
        shown = tuple(s for s in self.source() if s.state != "off")  # off: optional and unset
        self.set_class(not shown, "-hidden")
        if shown == self.states and not any(s.state == "retrying" for s in shown):
            return  # (a retry's countdown changes every second; the rest only on change)
        self.states = shown
        self.draw(clock.now())

    def draw(self, now: float) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("notify ", style="bold")
        for i, state in enumerate(self.states):
            words, level = describe(state, now)
            text.append("  " if i else "")
            text.append(words, style=level_style(self, level))
            if state.last_error and state.state in ("retrying", "failed"):
                text.append(f" ({state.last_error})", style="dim")
        self.update(text)
