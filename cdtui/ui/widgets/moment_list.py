"""The release timeline and the monitor's alert history: moments, newest last."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.release.watch import Moment
from cdtui.ui.widgets.styles import level_style


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
