"""The release view: the blue/green split moving live, both colours' health, the rollout's state
and timeline; one key releases and one rolls back (each behind a deliberate confirmation), and
keys promote, pause/resume and abort the release this console runs.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from cdtui.release.watch import ReleaseWatch
from cdtui.ui.screens.confirm import ConfirmModal, RefusalModal
from cdtui.ui.screens.help import HelpScreen
from cdtui.ui.screens.watch_screen import WatchScreen
from cdtui.ui.widgets.colour_panel import ColourPanel
from cdtui.ui.widgets.fit_footer import FitFooter
from cdtui.ui.widgets.moment_list import MomentList
from cdtui.ui.widgets.rollout_panel import RolloutPanel
from cdtui.ui.widgets.traffic_bar import TrafficBar

REPAINT = 0.25
MUTATING = {"release", "rollback", "promote", "pause", "abort"}
KEYS_HINT = "r release · b roll back · p promote · space pause/resume · x abort · m monitor"


class ReleaseScreen(WatchScreen):
    KIND = "release"
    BINDINGS = [
        Binding("r", "release", "Release", tooltip="Release the idle colour (asks first)"),
        Binding("b", "rollback", "Roll back", tooltip="All traffic back to live (asks first)"),
        Binding("p", "promote", "Promote", tooltip="End the current hold: next step now"),
        Binding("space", "pause", "Pause/resume", tooltip="Stop or restart the hold clock"),
        Binding("x", "abort", "Abort", tooltip="Stop the release: all traffic back to live"),
        Binding("m", "monitor", "Monitor", tooltip="Production health and alert history"),
        Binding("escape,w", "close", "Pipeline", tooltip="Back to the pipeline view"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    DEFAULT_CSS = """
    ReleaseScreen #title { dock: top; height: 1; background: $panel; padding: 0 1; }
    ReleaseScreen #colours { height: 1fr; min-height: 8; }
    ReleaseScreen #timeline { height: 1fr; min-height: 4; }
    """

    def __init__(self, watch: ReleaseWatch) -> None:
        super().__init__(watch)
        self._busy = False  # a release/rollback confirmation is being prepared

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield TrafficBar(id="traffic")
        with Horizontal(id="colours"):
            yield ColourPanel("blue", id="blue")
            yield ColourPanel("green", id="green")
        with Vertical():
            yield RolloutPanel(id="rollout")
            yield MomentList(id="timeline")
        yield FitFooter()

    def on_mount(self) -> None:
        self.watch.changed = True
        self.repaint()
        self.set_interval(REPAINT, lambda: self.paint(self.repaint))

    def repaint(self) -> None:
        watch = self.watch
        countdown = watch.hold_left() is not None
        if not (watch.changed or countdown):
            return
        watch.changed = False
        title = self.title_line("release view")
        title.append(f"phase {watch.phase} · ")
        title.append(f"live {watch.live}", style="bold")
        title.append(f" · router {watch.spec.router.kind}")
        if watch.spec.router.kind == "embedded":
            title.append(f" {watch.spec.router.listen}")
        self.query_one("#title", Static).update(title)
        self.query_one(TrafficBar).draw(watch)
        for panel in self.query(ColourPanel):
            panel.draw(watch)
        hint = "read-only: m monitor · esc pipeline" if self.app.readonly else KEYS_HINT
        self.query_one(RolloutPanel).draw(watch, hint)
        self.query_one(MomentList).draw(list(watch.timeline), "nothing happened yet")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A read-only console watches; it never moves traffic."""
        return not (action in MUTATING and self.app.readonly)

    # -- the release this console runs -----------------------------------------------------
    def _rollout(self):
        return self.app.session.rollout() if self.app.session else None

    def _no_rollout(self) -> None:
        if self.watch.releasing:
            self.notify(
                "The release phase is deploying the idle colour; the rollout (and these keys) "
                "starts after it. C on the pipeline view cancels the run.",
                severity="warning",
            )
        elif self.watch.driverless:
            self.notify(
                f"Nobody drives this release: {self.watch.driverless_text()}.",
                severity="warning",
            )
        elif self.watch.active:
            self.notify(
                "The release in progress is driven by another cdtui: control it there.",
                severity="warning",
            )
        else:
            self.notify("No release is running: press r to release.", severity="warning")

    def action_promote(self) -> None:
        rollout = self._rollout()
        if rollout is None:
            self._no_rollout()
            return
        if rollout.state.value not in ("step", "paused"):
            self.notify(f"Nothing to promote while the release is {rollout.state.value}.")
            return
        self.app.session.steer("promote")
        self.notify(f"Promoting: the hold at {rollout.step}% ends now.")

    def action_pause(self) -> None:
        rollout = self._rollout()
        if rollout is None:
            self._no_rollout()
            return
        if rollout.paused:
            self.app.session.steer("resume")
            self.notify(f"Resumed at {rollout.step}%.")
        else:
            self.app.session.steer("pause")
            self.notify(f"Paused at {rollout.step}%: health is still analysed; space resumes.")

    def action_abort(self) -> None:
        rollout = self._rollout()
        if rollout is None:
            self._no_rollout()
            return
        self.app.session.steer("abort", self.app.session.engine.options.user)
        self.notify(f"Aborting: all traffic back to live {rollout.live}.", severity="warning")

    # -- release ------------------------------------------------------------------------------
    def action_release(self) -> None:
        session = self.app.session
        if self._rollout() is not None or self.watch.releasing:
            self.notify(
                "A release is in progress: p promote, space pause, x abort, b roll back.",
                severity="warning",
            )
            return
        engine = session.engine
        at_gate = (
            session.running and engine is not None and self.watch.phase in engine.waiting_gates
        )
        if session.running and not at_gate:
            self.app.push_screen(
                RefusalModal(
                    "A run is in progress",
                    "the pipeline is running stages; a release runs as the release phase of a run",
                    "Wait for the run to reach the release gate (the view opens by itself), or "
                    "cancel it (C on the pipeline view).",
                )
            )
            return
        if not self._busy:
            self._busy = True
            self._prepare(for_rollback=False)

    def action_rollback(self) -> None:
        rollout = self._rollout()
        if rollout is not None:
            body = Text()
            body.append(f"All traffic goes back to live {rollout.live} at once", style="bold")
            body.append(f" (now {rollout.weights}).\n\n")
            body.append(f"{rollout.live}: {self.watch.colours[rollout.live].summary()}\n")
            body.append(f"{rollout.idle} keeps running, idle, for a look at what went wrong.")
            user = self.app.session.engine.options.user

            def decided(yes: bool | None) -> None:
                if not yes:
                    return
                if self._rollout() is rollout and not rollout.state.finished:
                    self.app.session.steer("rollback", user)
                    self.notify(f"Rolling back to {rollout.live}…", severity="warning")
                else:  # it ended while the dialog was open: roll back what it left
                    self.notify("The release ended meanwhile: review the rollback again.")
                    self._busy = True
                    self._prepare(for_rollback=True)

            self.app.push_screen(
                ConfirmModal(f"Roll back to {rollout.live}?", body, confirm_label="roll back"),
                decided,
            )
            return
        if self.watch.releasing:  # deploying: this console holds the router itself
            self._no_rollout()
            return
        if not self._busy:
            self._busy = True
            self._prepare(for_rollback=True)

    @work(exclusive=True, group="release-context")
    async def _prepare(self, *, for_rollback: bool) -> None:
        from cdtui.release.context import gather

        session = self.app.session
        try:
            context = await gather(
                self.watch.spec,
                self.watch.phase,
                session.project_dir,
                self.watch,
                session.store,
                session.pipeline,
                for_rollback=for_rollback,
            )
        except Exception as exc:  # shown, never a traceback on the operator's screen
            self.notify(f"Cannot read the release facts: {exc}", severity="error", timeout=10)
            return
        finally:
            self._busy = False
        context.mask = _masker(session)
        if context.refusal is not None:
            refusal = context.refusal
            self.app.push_screen(RefusalModal(refusal.title, refusal.why, refusal.fix))
            return
        if for_rollback:
            self._confirm_rollback(context)
        else:
            self._confirm_release(context)

    def _confirm_release(self, context) -> None:
        from cdtui.ui.screens.release_text import release_body

        watch = self.watch
        resume = None
        stopped = None  # a driverless release the release stage will not resume
        if watch.driverless:  # as the core decides (control.prepare): the idle colour's share
            serving = context.weights.of(context.idle) if context.weights is not None else 0
            resume = serving or None
            stopped = None if resume else watch.step
        body = release_body(context, resume_from=resume, driver=watch.driver_pid, stopped=stopped)

        def decided(yes: bool | None) -> None:
            if yes:
                self._start_release()

        title = f"Release: {context.live} → {context.idle}?"
        if resume is not None:
            title = f"Resume the release: {context.live} → {context.idle} from {resume}%?"
        self.app.push_screen(ConfirmModal(title, body, confirm_label="release", width=96), decided)

    def _start_release(self) -> None:
        from cdtui.ui.screens.main import MainScreen

        session = self.app.session
        engine = session.engine
        phase = self.watch.phase
        if session.running and engine is not None and phase in engine.waiting_gates:
            if engine.approve(phase, engine.options.user):
                self.notify(f"Releasing: phase {phase} approved.")
            return
        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            self.notify("The pipeline view is gone: reopen the console.", severity="error")
            return
        main.start_release(phase)

    def _confirm_rollback(self, context) -> None:
        from cdtui.ui.screens.release_text import rollback_body

        target = context.rollback_to
        if context.weights is not None and context.weights.of(target) == 100:
            self.notify(f"Nothing to roll back: all traffic is on {target} already.")
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self._rollback_now()

        body = rollback_body(context)
        self.app.push_screen(
            ConfirmModal(f"Roll back to {target}?", body, confirm_label="roll back"), decided
        )

    def _rollback_now(self, redeploy: bool = False) -> None:
        """On the app, not this screen: leaving the view must not cancel a rollback halfway."""
        self.app.run_worker(
            self._roll_back(redeploy),
            group="release-rollback",
            exclusive=True,
            exit_on_error=False,
        )

    def _refused_rollback(self, refusal, redeployed: bool) -> None:
        """The target is unhealthy (or was never up): when the core names ``--redeploy`` as a
        way out (the target serves nothing), the refusal offers it on r: deploy the target again
        with the bytes it last ran, wait until it is healthy, then roll back."""
        import re

        found = re.search(r"rollback target (\w+) is", refusal.why)
        offer = None
        if found and "--redeploy" in refusal.fix and not redeployed and not self.app.readonly:
            target = found.group(1)
            offer = ("r", f"redeploy {target} (the bytes it last ran), then roll back")
        modal = RefusalModal(refusal.title, refusal.why, refusal.fix, offer=offer)

        def chosen(key: str | None) -> None:
            if key == "r":
                self._rollback_now(redeploy=True)

        self.app.push_screen(modal, chosen)

    async def _roll_back(self, redeploy: bool = False) -> None:
        """Through the front door, like ``cdtui rollback``: same record, events and refusals."""
        session = self.app.session
        user = session.engine.options.user if session.engine else None
        if redeploy:
            self.app.notify("Redeploying the rollback target, then rolling back…", timeout=8)
        try:
            result = await session.rollback(
                self.watch.phase or None,
                via="console",
                user=user,
                subscribers=[self.watch.apply],
                redeploy=redeploy,
            )
        except Exception as exc:  # an incident is no time for a traceback: say it, keep the console
            reason = f"{type(exc).__name__}: {exc}"
            self.app.notify(reason, title="Rollback failed", severity="error", timeout=12)
            return
        if result.refusal is not None:
            self._refused_rollback(result.refusal, redeploy)
        elif not result.ok:
            self.app.notify(result.reason, title="Rollback failed", severity="error", timeout=12)
        else:
            self.app.notify(result.reason, title="Rolled back", timeout=8)

    # -- navigation ---------------------------------------------------------------------------
    def action_monitor(self) -> None:
        self.app.open_watch_view("monitor")

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self, [("Release view", self.BINDINGS)]))


def _masker(session):
    """The session's secrets hidden in what the confirmation shows (a missing one is fine)."""
    import os

    from cdtui.config import resolve_secrets
    from cdtui.engine.masking import SecretMasker

    try:
        secrets = resolve_secrets(session.pipeline, os.environ, file=str(session.path))
    except Exception:
        return lambda text: text
    return SecretMasker(secrets.values()).mask_text
