"""The Textual console: a thin shell that owns screens, themes and the file watch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import Static

from cdtui.ui.commands import binding_commands
from cdtui.ui.settings import SettingsProblem, load_settings, save_setting
from cdtui.ui.themes import DEFAULT_THEME, STATUS_FALLBACK, load_themes

if TYPE_CHECKING:
    from cdtui.release.poller import ReleasePoller
    from cdtui.release.watch import ReleaseWatch
    from cdtui.session import Session
    from cdtui.ui.screens.history import HistoryScreen


class OpeningScreen(Screen[None]):
    """The first frame, painted before the pipeline, the store and pydantic are loaded."""

    DEFAULT_CSS = """
    OpeningScreen Static { dock: top; height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, project_dir: Path) -> None:
        super().__init__()
        self.project_dir = project_dir
        self.typed_ahead: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(f"cdtui · opening {self.project_dir} …")

    def on_key(self, event: events.Key) -> None:
        """Keys typed while the project loads are kept and replayed on the console."""
        event.stop()
        self.typed_ahead.append(event.key)


class CdtuiApp(App[None]):
    TITLE = "cdtui"
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        project_dir: Path,
        pipeline_file: Path | None = None,
        *,
        readonly: bool = False,
        theme: str | None = None,
        autostart: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
        monitor: bool = True,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self.freeze_gc = freeze_gc  # the real console: see _freeze_startup_objects
        self.monitor = monitor  # poll the router and check health in the background
        self.release_watch: ReleaseWatch | None = None
        self._release_poller: ReleasePoller | None = None
        self.autostart = autostart
        self.project_dir = Path(project_dir)
        self.pipeline_file = pipeline_file
        self.session: Session | None = None
        self.readonly = readonly
        self._stamp = None
        self._reload_waits = False  # the file changed during a run: reload when it ends
        self._wanted_theme = theme
        self.theme_problems: list[str] = []
        self.settings_problems: list[SettingsProblem] = []  # told once; the file is left alone

    # -- themes -----------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Status colours for themes that do not name them (Textual's built-ins)."""
        defaults = super().get_theme_variable_defaults()
        theme = self.get_theme(self.theme) if hasattr(self, "_registered_themes") else None
        for var, base in STATUS_FALLBACK.items():
            colour = getattr(theme, base, None) if theme else None
            defaults.setdefault(var, colour or "#888888")
        return defaults

    def _install_themes(self) -> None:
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        self.theme_problems = [f"{p.path.name}: {p.message}" for p in problems]
        settings, self.settings_problems = load_settings()
        wanted = self._wanted_theme or settings.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted

    def watch_theme(self, theme: str) -> None:
        if self.is_mounted and self._wanted_theme is None:
            save_setting("theme", theme)

    # -- screens ----------------------------------------------------------------------
    def on_mount(self) -> None:
        self._install_themes()
        self._wanted_theme = None
        for problem in self.theme_problems:
            self.notify(problem, title="Theme skipped", severity="warning")
        for problem in self.settings_problems:
            self.notify(str(problem), title="Settings", severity="warning", timeout=12)
        self.push_screen(OpeningScreen(self.project_dir))
        self.call_after_refresh(self._open_project)

    def _open_project(self) -> None:
        """After the first paint: load the pipeline and the store, then show the console."""
        from cdtui.session import Session
        from cdtui.ui.screens.config_errors import ConfigErrorScreen
        from cdtui.ui.screens.main import MainScreen

        typed_ahead = self.screen.typed_ahead if isinstance(self.screen, OpeningScreen) else []
        self.session = Session(self.project_dir, self.pipeline_file)
        errors = self.session.load()
        self._stamp = self.session.file_stamp()
        if errors:
            self.switch_screen(ConfigErrorScreen(errors))
        else:
            self._watch_release()
            main = MainScreen(self.session, readonly=self.readonly)
            self.switch_screen(main)
            if self.autostart is not None and not self.readonly:
                phases, stages = self.autostart
                self.call_after_refresh(main.start_selection, phases, stages)
            for key in typed_ahead:
                self.call_after_refresh(self.simulate_key, key)
            if self.freeze_gc:
                self.call_after_refresh(self._freeze_startup_objects)
        self.set_interval(0.5, self._watch_pipeline_file)

    def _watch_release(self) -> None:
        """A ReleaseWatch for the pipeline's release phase, fed by a poller unless disabled;
        kept as is while the release block does not change."""
        found = self.session.release_phase() if self.session else None
        old = self.release_watch
        if found is None:
            self.release_watch = None
        elif old is None or (old.phase, old.spec) != found:
            from cdtui.release.watch import ReleaseWatch

            self.release_watch = ReleaseWatch(found[1], found[0])
        else:
            return
        if self._release_poller is not None:
            self.run_worker(self._release_poller.stop())
            self._release_poller = None
        if self.release_watch is not None and self.monitor:
            from cdtui.release.poller import ReleasePoller

            tell = None if self.readonly else self.session.bus.emit
            self._release_poller = ReleasePoller(self.release_watch, self.project_dir, tell=tell)
            self._release_poller.start()

    def open_release_view(self) -> None:
        self.open_watch_view("release")

    def open_monitor_view(self) -> None:
        self.open_watch_view("monitor")

    def open_watch_view(self, kind: str) -> None:
        """The release or monitor view over the pipeline view: the two swap places, never stack."""
        from cdtui.ui.screens.monitor import MonitorScreen
        from cdtui.ui.screens.release import ReleaseScreen
        from cdtui.ui.screens.watch_screen import WatchScreen

        if self.release_watch is None:
            self.notify("This pipeline has no release phase (a `release:` block).")
            return
        wanted = ReleaseScreen if kind == "release" else MonitorScreen
        if isinstance(self.screen, WatchScreen) and kind == self.screen.KIND:
            return
        opening = self.switch_screen if isinstance(self.screen, WatchScreen) else self.push_screen
        opening(wanted(self.release_watch))

    def _freeze_startup_objects(self) -> None:
        """Keep the ~50k objects of Textual's start-up out of every later full collection: each
        pass over them stalled the loop 12-32 ms, the four-pane lag spikes (bench/console_log_
        throughput.py). Not in tests, where frozen objects of many apps would pile up."""
        import gc

        gc.freeze()

    def _watch_pipeline_file(self) -> None:
        stamp = self.session.file_stamp()
        if stamp != self._stamp or (self._reload_waits and not self.session.running):
            self._stamp = stamp
            self.action_reload_config()

    def action_reload_config(self) -> None:
        from cdtui.ui.screens.config_errors import ConfigErrorScreen
        from cdtui.ui.screens.main import MainScreen

        if self.session.running:
            if not self._reload_waits:  # told once, not on every tick until the run ends
                self.notify("The pipeline file changed; it reloads when the run ends.")
            self._reload_waits = True
            return
        self._reload_waits = False
        errors = self.session.load()
        screen = self.screen
        if errors:
            if isinstance(screen, ConfigErrorScreen):
                screen.show(errors)
            else:
                self.switch_screen(ConfigErrorScreen(errors))
            return
        self._watch_release()
        if isinstance(screen, ConfigErrorScreen):
            self.switch_screen(MainScreen(self.session, readonly=self.readonly))
            self.notify("Pipeline file fixed and reloaded.")
        elif isinstance(screen, MainScreen):
            screen.load_state()
            self.notify("Pipeline file reloaded.")

    def on_history_screen_open_run(self, message: HistoryScreen.OpenRun) -> None:
        from cdtui.ui.screens.main import MainScreen

        self.push_screen(MainScreen(self.session, view_run=message.run_id))

    def on_history_screen_rerun_failed(self, message: HistoryScreen.RerunFailed) -> None:
        from cdtui.engine.state import RunState
        from cdtui.ui.screens.main import MainScreen

        if self.readonly:
            self.notify("Read-only console: it cannot start runs.", severity="warning")
            return
        state = RunState.from_store(self.session.store, message.run_id, self.session.pipeline)
        while not isinstance(self.screen, MainScreen) or self.screen.view_run is not None:
            self.pop_screen()
        main = self.screen
        assert isinstance(main, MainScreen)
        main.state = state
        main.action_rerun_failed()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own commands, then every described key of the screen (ui/commands.py)."""
        own = list(super().get_system_commands(screen))
        yield from own
        yield from binding_commands(self, screen, taken=(command.title for command in own))

    async def action_quit(self) -> None:
        """Quitting mid-run asks first, then cancels and waits for the stages to end."""
        if self.session is None or not self.session.running or self.readonly:
            self.exit()
            return
        from cdtui.ui.screens.confirm import ConfirmModal

        async def decided(quit_now: bool | None) -> None:
            if quit_now:
                await self.stop_run("console closed")
                self.exit()

        await self.push_screen(
            ConfirmModal(
                "Quit while a run is in progress?",
                "Quitting cancels the run: every running stage's processes end "
                "(SIGTERM, then SIGKILL after the grace period).",
                confirm_label="cancel the run and quit",
            ),
            decided,
        )

    async def stop_run(self, reason: str) -> None:
        if self.session is None:
            return
        engine, task = self.session.engine, self.session.task
        if engine is None or task is None or task.done():
            return
        engine.cancel(reason)
        self.notify("Cancelling the run…")
        await task

    async def on_unmount(self) -> None:
        if self._release_poller is not None:
            await self._release_poller.stop()
        if self.session is not None:
            task = self.session.task
            if self.session.running and self.session.engine is not None and task is not None:
                # The run ends on record (CANCELLED, its processes ended) before the store closes.
                self.session.engine.cancel("the console closed")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), 30)
            self.session.close()
