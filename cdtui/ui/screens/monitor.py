"""The monitor view: production as its users reach it (the router's address), the live colour,
the idle one, and the alert history, kept across restarts in DIR/.cdtui/alerts.jsonl."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static

from cdtui.release.watch import ReleaseWatch
from cdtui.ui.widgets.release_panels import ColourPanel, MomentList, TrafficBar

REPAINT = 0.5


class MonitorScreen(Screen[None]):
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

    def __init__(self, watch: ReleaseWatch) -> None:
        super().__init__()
        self._watch = watch

    @property
    def watch(self) -> ReleaseWatch:
        return self.app.release_watch or self._watch

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield TrafficBar(id="traffic")
        with Horizontal(id="targets"):
            yield ColourPanel("public", id="public")
            yield ColourPanel("live", id="live")
        yield MomentList(id="alerts")
        yield Footer()

    def on_mount(self) -> None:
        self.repaint()
        self.set_interval(REPAINT, self.repaint)

    def repaint(self) -> None:
        watch = self.watch
        title = Text(no_wrap=True, overflow="ellipsis")
        session = self.app.session
        project = session.pipeline.project if session and session.pipeline else "?"
        title.append("cdtui ", style="bold")
        title.append(f"· {project} · monitor · checks every {watch.spec.health.interval:g}s ")
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
        from cdtui.ui.screens.release import ReleaseScreen

        self.app.switch_screen(ReleaseScreen(self.watch))

    def action_close(self) -> None:
        self.dismiss()
