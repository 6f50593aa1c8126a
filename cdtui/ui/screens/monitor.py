"""The monitor view: production as its users reach it (the router's address), the live colour,
the idle one, and the alert history, kept across restarts in DIR/.cdtui/alerts.jsonl."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from cdtui.ui.screens.watch_screen import WatchScreen
from cdtui.ui.widgets.colour_panel import ColourPanel
from cdtui.ui.widgets.fit_footer import FitFooter
from cdtui.ui.widgets.moment_list import MomentList
from cdtui.ui.widgets.traffic_bar import TrafficBar

REPAINT = 0.5


class MonitorScreen(WatchScreen):
    KIND = "monitor"
    BINDINGS = [
        Binding("w", "release_view", "Release view"),
        Binding("escape", "close", "Pipeline"),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    DEFAULT_CSS = """
    MonitorScreen #title { dock: top; height: 1; background: $panel; padding: 0 1; }
    MonitorScreen #targets { height: 2fr; min-height: 8; }
    MonitorScreen #alerts { height: 1fr; min-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield TrafficBar(id="traffic")
        with Horizontal(id="targets"):
            yield ColourPanel("public", id="public")
            yield ColourPanel("live", id="live")
        yield MomentList(id="alerts")
        yield FitFooter()

    def on_mount(self) -> None:
        self.repaint()
        self.set_interval(REPAINT, self.repaint)

    def repaint(self) -> None:
        watch = self.watch
        title = self.title_line("monitor")
        title.append(f"checks every {watch.spec.health.interval:g}s ")
        title.append(f"of {watch.spec.health.path} · live {watch.live}", style="bold")
        self.query_one("#title", Static).update(title)
        self.query_one(TrafficBar).draw(watch)
        public = self.query_one("#public", ColourPanel)
        if watch.spec.router.kind == "embedded":
            public.draw(watch, watch.public, role=f"users' address {watch.spec.router.listen}")
        else:
            public.draw(watch, watch.colours[watch.idle], role="idle")
            public.colour = watch.idle
        live = self.query_one("#live", ColourPanel)
        live.colour = watch.live
        live.draw(watch, watch.colours[watch.live], role="live")
        alerts = self.query_one(MomentList)
        alerts.border_title = f"alerts ({len(watch.alerts)})"
        alerts.draw(list(watch.alerts), "no alerts: every target has stayed healthy")

    def action_release_view(self) -> None:
        self.app.open_watch_view("release")
