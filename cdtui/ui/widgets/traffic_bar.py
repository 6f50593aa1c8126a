"""The blue/green split across the top of the release and monitor views."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.release.watch import ReleaseWatch
from cdtui.ui.widgets.styles import colour_var


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
