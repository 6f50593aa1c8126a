"""The monitor view: production as its users reach it (the router's address), the live colour,
the idle one, and the alert history; below them, the project's monitor (``cdtui monitor`` or
this console's own): whether one runs, its checks with their recent history, the alerts firing,
what changed and the actions taken. ``s`` runs the monitor in this console when none runs; it
never runs a second one (the monitor's lock)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from cdtui.ui.screens.watch_screen import WatchScreen
from cdtui.ui.widgets.check_list import CheckList
from cdtui.ui.widgets.colour_panel import ColourPanel
from cdtui.ui.widgets.fit_footer import FitFooter
from cdtui.ui.widgets.moment_list import MomentList
from cdtui.ui.widgets.traffic_bar import TrafficBar

REPAINT = 0.5
FACTS_EVERY = 1.0
_OWN: dict[str, object] = {}
"""Monitors this console runs, by project dir: they outlive the view, not the console."""


class MonitorScreen(WatchScreen):
    KIND = "monitor"
    BINDINGS = [
        Binding("w", "release_view", "Release view"),
        Binding("s", "start_monitor", "Run monitor here", tooltip="When no cdtui monitor runs"),
        Binding("escape", "close", "Pipeline"),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    DEFAULT_CSS = """
    MonitorScreen #title { dock: top; height: 1; background: $panel; padding: 0 1; }
    MonitorScreen #targets { height: 2fr; min-height: 8; }
    MonitorScreen #service { height: 1; padding: 0 1; }
    MonitorScreen #checks { height: 2fr; min-height: 6; }
    MonitorScreen #alerts { height: 1fr; min-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield TrafficBar(id="traffic")
        with Horizontal(id="targets"):
            yield ColourPanel("public", id="public")
            yield ColourPanel("live", id="live")
        yield Static(id="service")
        yield CheckList(id="checks")
        yield MomentList(id="alerts")
        yield FitFooter()

    facts = None  # the monitor's facts (cdtui.monitor.view.MonitorFacts), once read

    def on_mount(self) -> None:
        self.repaint()
        self.set_interval(REPAINT, lambda: self.paint(self.repaint))
        self.refresh_facts()
        self.set_interval(FACTS_EVERY, self.refresh_facts)

    @property
    def project_dir(self):
        return self.app.session.project_dir

    def refresh_facts(self) -> None:
        self.run_worker(self._read_facts(), group="monitor-facts", exclusive=True)

    async def _read_facts(self) -> None:
        """Read off the loop: runs.db and the snapshot another process writes."""
        import asyncio

        from cdtui.monitor.view import read_facts

        facts = await asyncio.to_thread(read_facts, self.project_dir)
        self.facts = facts
        self.paint(self._draw_facts)

    def _draw_facts(self) -> None:
        facts = self.facts
        self.query_one("#service", Static).update(facts.headline())
        checks = self.query_one(CheckList)
        checks.border_title = f"monitor: checks ({len(facts.checks)}), alerts, actions"
        checks.draw(facts)

    def action_start_monitor(self) -> None:
        """The project's monitor in this console, through the front door, if none runs."""
        from cdtui.monitor.build import NoMonitor
        from cdtui.monitor.state import running_pid

        key = str(self.project_dir)
        if self.app.readonly:
            self.app.notify("A read-only console runs no monitor.")
            return
        pid = running_pid(self.project_dir)
        if pid is not None or key in _OWN:
            who = "this console" if key in _OWN else f"cdtui monitor (pid {pid})"
            self.app.notify(f"{who} already monitors this project; it is never run twice.")
            return
        try:
            service = self.app.session.monitor()
        except NoMonitor as exc:
            self.app.notify(str(exc), severity="error")
            return
        _OWN[key] = service
        self.app.run_worker(self._own(key, service), group="own-monitor")
        self.app.notify("The monitor runs in this console (it stops when the console quits).")

    async def _own(self, key: str, service) -> None:
        from cdtui.monitor.state import MonitorBusy

        try:
            await service.run()
        except MonitorBusy as exc:
            self.app.notify(str(exc), severity="error")
        finally:
            _OWN.pop(key, None)

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
