"""The console's main screen: phase tree, log pane(s), header, command pane and footer.

Engine events only update ``RunState`` and set a dirty flag; one shared timer (10 Hz)
repaints the tree and header and lets every log pane read what reached the disk.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input

from cdtui.engine.events import (
    Event,
    GateApproved,
    GateWaiting,
    LoadProgress,
    Notice,
    PhaseStarted,
    RunFinished,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
)
from cdtui.engine.state import RunState
from cdtui.notify.worker import SinkState
from cdtui.presentation import stage_outcome
from cdtui.release.events import HealthSampled, WeightChanged
from cdtui.session import Session
from cdtui.ui.screens.help import HelpScreen
from cdtui.ui.screens.history import HistoryScreen
from cdtui.ui.screens.main_actions import RunActions
from cdtui.ui.stage_metrics import StageMetrics
from cdtui.ui.watch_toggle import WatchToggle
from cdtui.ui.widgets.command_log import CommandLog
from cdtui.ui.widgets.fit_footer import FitFooter
from cdtui.ui.widgets.load_graph import LoadGraph
from cdtui.ui.widgets.log_pane import LogPane
from cdtui.ui.widgets.notifier_panel import NotifierPanel
from cdtui.ui.widgets.phase_tree import PhaseTree
from cdtui.ui.widgets.run_header import RunHeader

TICK = 0.1


class MainScreen(WatchToggle, RunActions, Screen[None]):
    BINDINGS = [
        Binding("r", "run_all", "Run", tooltip="Run the whole pipeline"),
        Binding("s", "run_stage", "Stage", tooltip="Run the selected stage (with its needs)"),
        Binding("R", "rerun_failed", "Re-run", tooltip="Re-run the failed stages"),
        Binding("a", "approve", "Approve"),
        Binding("c", "cancel_stage", "Cancel", tooltip="Cancel the selected stage"),
        Binding("C", "cancel_run", "Cancel run", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "pane('next_match')", "Next match", show=False),
        Binding("N", "pane('previous_match')", "Previous match", show=False),
        Binding("e", "pane('first_error')", "First error", show=False),
        Binding("t", "pane('toggle_timestamps')", "Timestamps", show=False),
        Binding("m", "pane('add_marker')", "Marker", show=False),
        Binding("end,G", "pane('follow')", "Follow the end", show=False),
        Binding("f", "filter", "Filter", show=False),
        Binding("F", "filter_out", "Filter out", show=False),
        Binding("v", "split", "Split", show=False),
        Binding("o", "command_log", "Commands", show=False),
        Binding("h", "history", "History"),
        Binding("escape", "back", "Back", tooltip="Leave this old run: back to the history list"),
        Binding("w", "release", "Release"),
        Binding("W", "toggle_watch", "Watch", show=False, tooltip="Re-run Commit on every save"),
        Binding("T", "app.change_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    MainScreen PhaseTree { width: 32%; min-width: 22; max-width: 44; }
    MainScreen #panes { width: 1fr; }
    MainScreen #logs { height: 1fr; }
    MainScreen LogPane { width: 1fr; }
    MainScreen #second { display: none; border-left: tall $panel; }
    MainScreen.-split #second { display: block; }
    MainScreen #query { dock: bottom; display: none; }
    MainScreen #query.-shown { display: block; }
    MainScreen CommandLog { display: none; }
    MainScreen.-commands CommandLog { display: block; }
    """

    def __init__(
        self, session: Session, *, readonly: bool = False, view_run: int | None = None
    ) -> None:
        super().__init__()
        self.session = session
        self.readonly = readonly or view_run is not None
        self.view_run = view_run
        self.state: RunState = RunState()
        self._dirty = True
        self._last_labels = 0.0
        self._query_mode = "search"
        self._store_poll = 0.0
        self._store_version: int | None = None  # the store's data_version last read
        self._release_seen: bool | None = None  # a read-only console: a release was active
        self._measured = StageMetrics()  # scenario counts, p95s: told when their stage ends

    # -- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield NotifierPanel(self._sink_states, id="notifier")
        with Horizontal():
            yield PhaseTree(id="tree")
            with Vertical(id="panes"):
                yield LoadGraph(id="load")
                with Horizontal(id="logs"):
                    yield LogPane(id="first")
                    yield LogPane(id="second")
                yield Input(placeholder="search the log (Enter; Esc closes)", id="query")
        yield CommandLog(id="commands")
        yield FitFooter()

    def _sink_states(self) -> tuple[SinkState, ...]:
        notifier = self.session.notifier
        return notifier.snapshot() if notifier is not None else ()

    def on_mount(self) -> None:
        self.phase_tree = self.query_one(PhaseTree)
        self.first = self.query_one("#first", LogPane)
        self.second = self.query_one("#second", LogPane)
        self.header_bar = self.query_one(RunHeader)
        self.command_log = self.query_one(CommandLog)
        self.load_graph = self.query_one(LoadGraph)
        self.load_state()
        self.set_interval(TICK, self.tick)
        self.phase_tree.focus()
        if left := self.session.store.orphans():  # after a kill -9 (store/orphans.py)
            text = f"{len(left)} process(es) of interrupted runs still alive: "
            text += ", ".join(o.describe() for o in left[:3]) + (" …" if len(left) > 3 else "")
            self.notify(
                f"{text}. End them: cdtui history --end-orphans",
                title="Orphans",
                severity="warning",
                timeout=30,
            )

    def load_state(self) -> None:
        """The run to show: the given one, the latest stored one, or the idle skeleton."""
        if not hasattr(self, "phase_tree"):  # not mounted yet: on_mount loads it
            return
        pipeline = self.session.pipeline
        store = self.session.store
        self._store_version = store.data_version()  # before the read: a later write is seen
        run_id = self.view_run if self.view_run is not None else self._latest_pipeline_run()
        if run_id is not None and not self.session.running:
            self.state = RunState.from_store(store, run_id, pipeline)
        elif pipeline is not None:
            self.state = RunState.skeleton(pipeline)
        self.phase_tree.load(self.state)
        self._select_initial()
        self._dirty = True
        self._show_selected()

    def _select_initial(self) -> None:
        """Open on what matters: the running stage, else the first failed one, else the first
        that ran (a release-only run opens on its release), else the first."""
        running = self.state.running_stage()
        failed = self.state.failed_stages()
        stages = [(p.name, s) for p in self.state.phases.values() for s in p.stages.values()]
        ran = [(phase, s.name) for phase, s in stages if s.attempt > 0]
        first = ran[0] if ran else (stages[0][0], stages[0][1].name) if stages else None
        target = (running.phase, running.name) if running else failed[0] if failed else first
        if target is not None:
            self.phase_tree.select_stage(*target)

    # -- engine events (called on the loop, must stay cheap) ---------------------------
    def on_engine_event(self, event: Event) -> None:
        if isinstance(event, StageOutput):
            return
        watch = self.app.release_watch
        if watch is not None:
            watch.apply(event)
            if isinstance(event, PhaseStarted | GateWaiting) and event.phase == watch.phase:
                self._open_release_view_soon()
        if isinstance(event, HealthSampled | WeightChanged):
            return  # the release view draws these; the tree has nothing to show for them
        if isinstance(event, LoadProgress):
            self.load_graph.apply(event)  # a second of a load stage: its graphs, not the tree
            return
        self.state.apply(event)
        self._dirty = True
        if told := self._measured.apply(event):
            self.notify(told[0], title="Measured", severity=told[1], timeout=8)  # type: ignore[arg-type]
        if isinstance(event, GateWaiting | GateApproved | RunFinished):
            self.refresh_bindings()
        if isinstance(event, StageStarted):
            self.command_log.record(event.host, event.command, event.at)
            if (event.phase, event.stage) == self._selected_key():
                self._show_selected()
        elif isinstance(event, StageFinished):
            if (event.phase, event.stage) == self._selected_key():
                self._show_selected()  # its title says how it ended
        elif isinstance(event, GateWaiting) and (watch is None or event.phase != watch.phase):
            self.notify(
                f"Phase {event.phase} waits for approval: press a to review.",
                title="Gate",
                severity="warning",
                timeout=8,
            )
        elif isinstance(event, Notice) and event.level in ("warning", "error"):
            where = f"{event.stage}: " if event.stage else ""
            self.notify(where + event.text, severity=event.level, timeout=6)
        elif isinstance(event, RunFinished):
            self._open_first_failure()
            severity = "information" if event.status.ok else "error"
            self.notify(
                f"Run #{event.run_id} {event.status.lower()}"
                + (f": {event.reason}" if event.reason else ""),
                severity=severity,
            )

    def tick(self) -> None:
        now = time.monotonic()
        if self.readonly and now - self._store_poll > 0.5:
            self._store_poll = now
            self._poll_store()
        if self.readonly:
            self._follow_release()
        # The clock ticks while the run is on, a gate's wait too (no stage runs then).
        running = self.state.run_id is not None and not self.state.status.finished
        running = running or self.state.running_stage() is not None
        if self._dirty or (running and now - self._last_labels >= 1.0):
            self._dirty = False
            self._last_labels = now
            self.phase_tree.state = self.state
            self.phase_tree.refresh_labels()
            self.phase_tree.follow_running()
            project = self.session.pipeline.project if self.session.pipeline else "?"
            viewing = self.view_run is not None
            self.header_bar.show(project, self.state, self.readonly, viewing, self.watch_text)
        self.first.refresh_from_disk()
        if self.has_class("-split"):
            self.second.refresh_from_disk()

    def _poll_store(self) -> None:
        """Observer mode: rebuild the shown run from the store another cdtui writes, only when
        it wrote something since the last look (an idle console reads one pragma per poll)."""
        store = self.session.store
        version = store.data_version()
        if version == self._store_version:
            return
        self._store_version = version
        run_id = self.view_run if self.view_run is not None else self._latest_pipeline_run()
        if run_id is None:
            return
        fresh = RunState.from_store(store, run_id, self.session.pipeline)
        if fresh.run_id != self.state.run_id:
            self.state = fresh
            self.phase_tree.load(fresh)
            self._show_selected()
        else:
            before = self._selected_attempt()
            self.state = fresh
            if self._selected_attempt() != before:
                self._show_selected()
        self._dirty = True

    def _open_first_failure(self) -> None:
        """After a run the pane shows what to read: the first failure, not the last stage that
        happened to finish (unless the operator chose a stage meanwhile)."""
        failed = self.state.failed_stages()
        if failed and self.phase_tree.following:
            self.phase_tree.select_stage(*failed[0])
            self._show_selected()

    def _latest_pipeline_run(self) -> int | None:
        """The run to open on: the latest that ran pipeline stages. A rollback is a run of its
        own (one stage), shown in history and the release view; opening on it would show the
        pipeline as ``0/10 stages``."""
        store = self.session.store
        for run in store.recent_runs(20):
            if not (run.selection == "rollback" or run.selection.endswith(": rollback")):
                return run.id
        return store.latest_run_id()

    def _follow_release(self) -> None:
        """A read-only console opens the release view when a release starts elsewhere."""
        watch = self.app.release_watch
        if watch is None:
            return
        active = watch.active
        if active and self._release_seen is False:
            self._open_release_view_soon()
        self._release_seen = active

    # -- selection and logs ------------------------------------------------------------
    def _selected_key(self) -> tuple[str, str] | None:
        ref = self.phase_tree.selected if hasattr(self, "phase_tree") else None
        if ref is None or ref.stage is None:
            return None
        return ref.phase, ref.stage

    def _selected_attempt(self) -> int:
        key = self._selected_key()
        if key is None:
            return 0
        phase = self.state.phases.get(key[0])
        stage = phase.stages.get(key[1]) if phase else None
        return stage.attempt if stage else 0

    def _log_for(self, phase: str, stage: str) -> Path | None:
        ps = self.state.phases.get(phase)
        st = ps.stages.get(stage) if ps else None
        if st is None or st.attempt == 0 or self.state.run_id is None:
            return None
        return self.session.store.log_path(self.state.run_id, phase, stage, st.attempt)

    def _show_selected(self) -> None:
        key = self._selected_key()
        self.load_graph.show_for(key)
        if key is None:
            ref = self.phase_tree.selected
            where = f"{ref.phase}: " if ref is not None else ""
            self.first.show(None, f"{where}select a stage to see its log")
            return
        path = self._log_for(*key)
        self.first.show(path, self._pane_title(*key, logged=path is not None))

    def _pane_title(self, phase: str, stage: str, *, logged: bool) -> str:
        """``Build / test · FAILED: exit code 3``; a stage with no log says why it has none."""
        title = f"{phase} / {stage}"
        ps = self.state.phases.get(phase)
        st = ps.stages.get(stage) if ps else None
        if st is None:
            return f"{title}: not started"
        why = stage_outcome(st.status, st.reason, st.exit_code)
        if st.status.finished and st.status is not Status.SUCCEEDED:
            return f"{title} · {st.status.replace('_', ' ')}" + (f": {why}" if why else "")
        if not logged:
            return f"{title}: {why or 'not started'}"
        return title

    def on_phase_tree_stage_chosen(self, event: PhaseTree.StageChosen) -> None:
        self._show_selected()

    # -- log keys ---------------------------------------------------------------------
    def action_search(self) -> None:
        self._open_query("search", "search the log (Enter; n/N next/previous; Esc closes)")

    def action_filter(self) -> None:
        self._open_query("filter", "show only lines matching (Enter; Esc clears)")

    def action_filter_out(self) -> None:
        self._open_query("filter_out", "hide lines matching (Enter; Esc clears)")

    def _open_query(self, mode: str, placeholder: str) -> None:
        self._query_mode = mode
        query = self.query_one("#query", Input)
        query.placeholder = placeholder
        query.value = ""
        query.add_class("-shown")
        query.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        if self._query_mode == "search":
            self.first.search(text) if text else self.first.clear_search()
        elif text:
            self.first.filter(text, invert=self._query_mode == "filter_out")
        else:
            self.first.clear_filter()
        event.input.remove_class("-shown")
        self.first.focus()

    def on_key(self, event) -> None:
        query = self.query_one("#query", Input)
        if event.key == "escape" and query.has_class("-shown"):
            event.stop()
            query.remove_class("-shown")
            if self._query_mode == "search":
                self.first.clear_search()
            else:
                self.first.clear_filter()
            self.first.focus()

    def action_pane(self, action: str) -> None:
        """Log keys work from the tree too: they act on the focused (else the main) pane."""
        pane = self.second if self.second.has_focus else self.first
        getattr(pane, f"action_{action}")()

    def action_split(self) -> None:
        if self.has_class("-split"):
            self.remove_class("-split")
            return
        key = self._selected_key()
        path = self._log_for(*key) if key else None
        self.second.show(path, f"{key[0]} / {key[1]} (pinned)" if key else "")
        self.add_class("-split")

    def action_command_log(self) -> None:
        self.toggle_class("-commands")

    def action_history(self) -> None:
        if self.view_run is not None:  # an old run's view: back to the list it was opened from
            self.action_back()
            return
        self.app.push_screen(HistoryScreen(self.session.store))

    def action_back(self) -> None:
        """An old run's view (opened from the history list) closes back to that list."""
        if self.view_run is not None:
            self.app.pop_screen()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self))
