"""The pipeline view's run keys: run, run a stage, re-run failures, cancel, approve a gate.

Apart from ``main.py`` (layout, events, logs) because they are the other idea of that screen:
what an operator asks of the engine, and the refusals and confirmations in front of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from cdtui.engine.engine import EngineOptions
from cdtui.engine.plan import PlanError
from cdtui.engine.state import RunState
from cdtui.ui.screens.confirm import ConfirmModal
from cdtui.ui.screens.watch_screen import WatchScreen

if TYPE_CHECKING:
    from textual.app import App

    from cdtui.session import Session
    from cdtui.ui.widgets.phase_tree import PhaseTree

MUTATING = {"run_all", "run_stage", "rerun_failed", "cancel_stage", "cancel_run", "approve"}


class RunActions:
    """Mixed into MainScreen (a Textual Screen), whose attributes these are."""

    if TYPE_CHECKING:
        app: App
        session: Session
        readonly: bool
        state: RunState
        phase_tree: PhaseTree
        _dirty: bool

        def notify(self, message: str, **kwargs: object) -> None: ...
        def refresh_bindings(self) -> None: ...
        def _selected_key(self) -> tuple[str, str] | None: ...

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.readonly and action in MUTATING:
            return False
        if action in ("release", "monitor"):
            return self.app.release_watch is not None
        if action == "back":  # only an old run's view has somewhere to go back to
            return self.view_run is not None
        if action == "approve":  # shown only while a gate waits, so the footer stays short
            engine = self.session.engine
            return bool(engine and engine.waiting_gates)
        if action in ("cancel_stage", "cancel_run"):
            return self.session.running
        return True

    def _start(
        self,
        phases: tuple[str, ...] = (),
        stages: tuple[str, ...] = (),
        label: str = "",
        approve: frozenset[str] = frozenset(),
    ) -> None:
        if self.session.running:
            self.notify("A run is in progress: cancel it (C) or wait.", severity="warning")
            return
        try:
            plan = self.session.plan(phases, stages)
        except PlanError as error:
            self.notify(str(error), severity="error")
            return
        self.state = RunState.skeleton(self.session.pipeline, plan)
        self.phase_tree.load(self.state)
        try:
            options = EngineOptions(interactive_gates=True, approve=approve)
            self.session.start(plan, [self.on_engine_event], selection=label, options=options)
        except Exception as error:  # config errors (a missing secret) are the operator's to fix
            self.notify(str(error), severity="error", timeout=10)
            return
        self._dirty = True
        self.phase_tree.following = True
        self.refresh_bindings()

    def start_selection(self, phases: tuple[str, ...], stages: tuple[str, ...]) -> None:
        """``cdtui run`` in a terminal: open the console and start what the flags selected."""
        words = [f"--phase {p}" for p in phases] + [f"--stage {s}" for s in stages]
        self._start(phases, stages, label=" ".join(["console: run", *words]))

    def start_release(self, phase: str) -> None:
        """The release view's confirmed release: the release phase alone, its gate approved."""
        self._start(phases=(phase,), label="console: release", approve=frozenset({phase}))

    def _release_view(self) -> WatchScreen | None:
        screen = self.app.screen
        return screen if isinstance(screen, WatchScreen) and screen.KIND == "release" else None

    def _open_release_view_soon(self) -> None:
        """A release phase starts (or waits at its gate): show it, unless a dialog is open."""
        if self.app.screen is self:
            self.app.call_later(self.app.open_release_view)
        elif self._release_view() is None:
            self.app.notify(
                "The release phase is ready: w opens the release view.", title="Release", timeout=10
            )

    def action_release(self) -> None:
        self.app.open_release_view()

    def _release_from_view(self) -> None:
        view = self._release_view()
        if view is not None:
            view.action_release()  # type: ignore[attr-defined]  # the release view's r key

    def action_monitor(self) -> None:
        self.app.open_monitor_view()

    def action_run_all(self) -> None:
        self._start(label="console: run")

    def action_run_stage(self) -> None:
        ref = self.phase_tree.selected
        if ref is None:
            return
        if ref.stage is None:
            self._start(phases=(ref.phase,), label=f"console: --phase {ref.phase}")
        else:
            selector = f"{ref.phase}/{ref.stage}"
            self._start(stages=(selector,), label=f"console: --stage {selector}")

    def action_rerun_failed(self) -> None:
        from cdtui.stages.release import RELEASE_STAGE

        failed = [(p, s) for p, s in self.state.failed_stages() if s != RELEASE_STAGE]
        if not failed and self.state.failed_stages():
            self.notify("The release failed: release again from the release view (w, then r).")
            return
        if not failed:
            self.notify("Nothing failed in the shown run.")
            return
        selectors = tuple(f"{p}/{s}" for p, s in failed)
        self._start(stages=selectors, label="console: re-run failed")

    def action_cancel_stage(self) -> None:
        key = self._selected_key()
        engine = self.session.engine
        if engine is None or key is None:
            return
        if engine.cancel_stage(*key, reason=f"cancelled by {engine.options.user}"):
            self.notify(f"Cancelling {key[1]}…")
        else:
            self.notify(f"{key[1]} is not running.", severity="warning")

    def action_cancel_run(self) -> None:
        engine = self.session.engine
        if engine is not None and self.session.running:
            engine.cancel(f"cancelled by {engine.options.user}")
            self.notify("Cancelling the run…")

    def action_approve(self) -> None:
        engine = self.session.engine
        if engine is None or not engine.waiting_gates:
            self.notify("No gate is waiting.")
            return
        phase = engine.waiting_gates[0]
        watch = self.app.release_watch
        if watch is not None and phase == watch.phase:  # the release confirmation says more
            self.app.open_release_view()
            self.app.call_later(self._release_from_view)
            return
        body = Text()
        body.append("Approving lets this phase start now:\n\n", style="bold")
        for stage in engine.plan.phases:
            if stage.name != phase:
                continue
            for st in stage.stages:
                body.append(f"  • {st.name}", style="bold")
                body.append(
                    f"  $ {st.command_text.splitlines()[0] if st.command_text else ''}\n",
                    style="dim",
                )
        body.append(f"\nRun #{engine.run_id}, approved as {engine.options.user}.")

        def decided(approved: bool | None) -> None:
            if approved and engine.approve(phase, engine.options.user):
                self.notify(f"Phase {phase} approved.")
            self.refresh_bindings()

        self.app.push_screen(ConfirmModal(f"Approve phase {phase}?", body), decided)
