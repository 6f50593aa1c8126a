"""Changes -> test: re-run a phase on every change, a change mid-run restarting it.

The loop is front-end free: a front end gives it ``start`` (begin a run through the session with
its own subscribers) and ``say`` (tell the operator), and the loop decides when to start, when to
cancel and when to wait. A change never interrupts a phase that deploys or releases (it could
leave an environment half-changed), and a stage marked ``watch: queue`` finishes before the
restart; either way the change is kept and runs next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdtui.engine.events import Event, PhaseStarted, StageFinished, StageStarted
from cdtui.watch.ignore import IgnoreRules
from cdtui.watch.watcher import Watcher

if TYPE_CHECKING:
    from cdtui.config.models import Phase, Pipeline
    from cdtui.engine.engine import Engine
    from cdtui.session import Session

FIRST_RUN = "(first run)"
DEPLOYING_KINDS = frozenset({"release", "rollback", "cloudformation", "ansible", "deploy"})
SHOWN_PATHS = 3


@dataclass(frozen=True)
class Trigger:
    """Why a run starts: the changed paths (``FIRST_RUN`` for the run on start)."""

    paths: tuple[str, ...]
    restart: bool = False  # it cancelled the run before it

    def describe(self) -> str:
        if self.paths == (FIRST_RUN,):
            return "first run"
        shown = ", ".join(self.paths[:SHOWN_PATHS])
        more = len(self.paths) - SHOWN_PATHS
        return f"{shown} (+{more} more)" if more > 0 else shown


def never_restarted(phase: Phase) -> str:
    """Why a change must not cancel this phase mid-run ('' when it may): it deploys or releases."""
    if phase.release is not None:
        return "it releases"
    if phase.gate:
        return "it is gated"
    for stage in phase.stages:
        if stage.kind in DEPLOYING_KINDS:
            return f"its stage {stage.name} ({stage.kind}) deploys"
        if stage.on or stage.upload:
            return f"its stage {stage.name} deploys to hosts"
        if stage.keep_children:
            return f"its stage {stage.name} leaves a service running"
    return ""


def default_phase(pipeline: Pipeline) -> str:
    """The phase a watch re-runs unless told: ``watch: phase:``, Commit, else the first."""
    if pipeline.watch.phase:
        return pipeline.watch.phase
    for phase in pipeline.phases:
        if phase.name.lower() == "commit":
            return phase.name
    return pipeline.phases[0].name


class WatchLoop:
    """Run on start and on each change; ``stop`` ends it (the run in progress is cancelled)."""

    def __init__(
        self,
        session: Session,
        *,
        start: Callable[[Trigger], Engine | None],
        finished: Callable[[Engine], None] = lambda _engine: None,
        say: Callable[[str, str], None] = lambda _level, _text: None,
        debounce: float | None = None,
        poll: bool | None = None,
        initial: bool = True,
        reload: bool = True,
        cancel_on_stop: bool = True,
    ) -> None:
        assert session.pipeline is not None
        self.session = session
        self.start = start
        self.finished = finished
        self.say = say
        settings = session.pipeline.watch
        self.debounce = settings.debounce if debounce is None else debounce
        self.poll = settings.poll or bool(poll)
        self.initial = initial
        self.reload = reload  # the console reloads the pipeline file itself
        self.cancel_on_stop = cancel_on_stop
        self.stop = asyncio.Event()
        self.rules = self.make_rules()
        self.runs = 0
        self._engine: Engine | None = None
        self._reported = True
        self._phase = ""
        self._running: set[tuple[str, str]] = set()
        self._restart_after_queue = ""

    def make_rules(self) -> IgnoreRules:
        from cdtui.store.paths import state_dir
        from cdtui.watch.ignore import own_outputs

        assert self.session.pipeline is not None
        return IgnoreRules(
            self.session.project_dir,
            extra=self.session.pipeline.watch.ignore,
            own=[state_dir(self.session.project_dir), *own_outputs()],
        )

    async def run(self) -> None:
        changes: asyncio.Queue[list[str]] = asyncio.Queue()
        watcher = Watcher(
            self.rules,
            debounce=self.debounce,
            poll=self.poll or None,
            stop=self.stop,
            say=lambda text: self.say("warning", text),
        )
        feeder = asyncio.create_task(self._feed(watcher, changes))
        untrack = self.session.bus.subscribe(self._track)
        pending: list[str] | None = [FIRST_RUN] if self.initial else None
        restarted = False
        try:
            while not self.stop.is_set():
                self._report_if_done()
                if pending is not None and not self.session.running:
                    self._launch(Trigger(tuple(pending), restarted))
                    pending, restarted = None, False
                got = asyncio.ensure_future(changes.get())
                stopping = asyncio.ensure_future(self.stop.wait())
                waits: set[asyncio.Future] = {got, stopping}
                task = self.session.task if self.session.running else None
                if task is not None:
                    waits.add(task)
                ours = task is not None and self.session.engine is self._engine
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                self._report_if_done()
                for waiter in (got, stopping):
                    if not waiter.done():
                        waiter.cancel()
                if got.done() and not got.cancelled():
                    batch = got.result()
                    pending = sorted({*(pending or ()), *batch} - {FIRST_RUN})
                    if ours and task is not None and not task.done():
                        restarted = self._interrupt(pending) or restarted
        finally:
            self.stop.set()
            untrack()
            ours = self._engine is not None and self.session.engine is self._engine
            if self.cancel_on_stop and self.session.running and ours:
                self._engine.cancel("watch stopped")  # type: ignore[union-attr]
                with contextlib.suppress(Exception):
                    await self.session.task  # type: ignore[misc]
            self._report_if_done()
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder

    async def _feed(self, watcher: Watcher, changes: asyncio.Queue[list[str]]) -> None:
        async for batch in watcher.batches():
            if self.reload and self._pipeline_file_in(batch):
                errors = self.session.load()
                if errors:  # fix the file first; the last good pipeline is kept meanwhile
                    from cdtui.config import format_errors

                    self.say("error", format_errors(errors))
                    continue
                assert self.session.pipeline is not None
                self.rules.extra = list(self.session.pipeline.watch.ignore)
                self.rules.reload()
            changes.put_nowait(batch)

    def _pipeline_file_in(self, batch: Sequence[str]) -> bool:
        path = self.session.path
        if path is None:
            return False
        name = self.rules.relative(path.resolve())
        return name in batch

    def _report_if_done(self) -> None:
        """The front end's ``finished`` once per run, before the next one starts."""
        if self._engine is not None and not self._reported and not self.session.running:
            self._reported = True
            self.finished(self._engine)

    def _launch(self, trigger: Trigger) -> None:
        self._reported = False
        self._running.clear()
        self._phase, self._restart_after_queue = "", ""
        self._engine = self.start(trigger)
        self.runs += 1

    def _interrupt(self, paths: Sequence[str]) -> bool:
        """A change arrived while a run goes on: cancel it now, after its queued stages, or
        not at all (a deploying phase). True when the run will be cancelled."""
        assert self.session.pipeline is not None and self._engine is not None
        what = Trigger(tuple(paths)).describe()
        phase = self._phase_named(self._phase)
        why_not = never_restarted(phase) if phase is not None else ""
        if why_not:
            self.say("info", f"{what} changed: runs next (phase {self._phase}: {why_not})")
            return False
        queued = self._queued_running()
        if queued:
            self._restart_after_queue = f"restarted: {what} changed"
            names = ", ".join(sorted(queued))
            self.say("info", f"{what} changed: restarting once {names} finishes (watch: queue)")
            return True
        self._engine.cancel(f"restarted: {what} changed")
        return True

    def _queued_running(self) -> set[str]:
        assert self.session.pipeline is not None
        names: set[str] = set()
        for phase_name, stage_name in self._running:
            phase = self._phase_named(phase_name)
            for stage in phase.stages if phase is not None else ():
                if stage.name == stage_name and stage.watch == "queue":
                    names.add(stage_name)
        return names

    def _phase_named(self, name: str) -> Phase | None:
        """The phase of the running pipeline (None before one started, or after a rename)."""
        assert self.session.pipeline is not None
        return next((p for p in self.session.pipeline.phases if p.name == name), None)

    def _track(self, event: Event) -> None:
        """Which phase and stages of the current run are running (from the bus)."""
        engine = self._engine
        if engine is None or event.run_id != engine.run_id:
            return
        if isinstance(event, PhaseStarted):
            self._phase = event.phase
        elif isinstance(event, StageStarted):
            self._running.add((event.phase, event.stage))
        elif isinstance(event, StageFinished) and not event.will_retry:
            self._running.discard((event.phase, event.stage))
            if self._restart_after_queue and not self._queued_running():
                reason, self._restart_after_queue = self._restart_after_queue, ""
                engine.cancel(reason)
