"""The front door: a project opened by a front end, its pipeline, its store, its one event bus.

The console, ``cdtui run`` and ``cdtui release|rollback`` start runs and release actions through
this, so recording them, the events they fire and the refusals work the same everywhere. The
store consumes the bus synchronously (nothing is lost); front ends only subscribe. It imports no
UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config import (
    ConfigError,
    LocatedError,
    find_pipeline_file,
    load_pipeline,
    resolve_secrets,
)
from cdtui.config.models import Pipeline
from cdtui.engine.bus import EventBus
from cdtui.engine.engine import Engine, EngineOptions, _current_user
from cdtui.engine.events import Event, StageFinished, Status
from cdtui.engine.plan import Plan, make_plan
from cdtui.store import RunStore

if TYPE_CHECKING:
    from cdtui.config.release import ReleaseSpec
    from cdtui.monitor.service import MonitorService
    from cdtui.notify.notifier import Notifier
    from cdtui.release.context import Refusal
    from cdtui.release.control import StatusReport

Subscriber = Callable[[Event], None]


@dataclass(frozen=True)
class ActionResult:
    """How a release action (rollback, ...) ended: ``refusal`` when it was not done at all."""

    run_id: int
    status: Status
    reason: str
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED


class Session:
    """One project directory: load (and reload) its pipeline, start runs, record them."""

    def __init__(self, project_dir: Path, pipeline_file: Path | None = None) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.pipeline_file = pipeline_file
        self.path: Path | None = None
        self.pipeline: Pipeline | None = None
        self.errors: list[LocatedError] = []
        self.engine: Engine | None = None
        self.task: asyncio.Task | None = None
        self.bus = EventBus()
        self.bus.subscribe(self._release_alerts)
        self._store: RunStore | None = None
        self.notifier: Notifier | None = None

    # -- the pipeline file ------------------------------------------------------------
    def load(self, check_secrets: bool = True) -> list[LocatedError]:
        """(Re)load the pipeline file; on errors keep them and the last good pipeline."""
        try:
            self.path = find_pipeline_file(self.project_dir, self.pipeline_file)
            self.pipeline = load_pipeline(self.path, check_secrets=check_secrets)
            self.errors = []
        except ConfigError as error:
            self.errors = list(error.errors)
        return self.errors

    def file_stamp(self) -> tuple[float, int] | None:
        """Changes when the pipeline file does (for reload on save)."""
        try:
            path = self.path or find_pipeline_file(self.project_dir, self.pipeline_file)
            stat = path.stat()
        except (ConfigError, OSError):
            return None
        return (stat.st_mtime, stat.st_size)

    def release_phase(self, name: str | None = None) -> tuple[str, ReleaseSpec] | None:
        """(phase name, ReleaseSpec) of the phase ``name`` (any case), or of the first phase
        with a ``release:`` block; None when there is none."""
        if self.pipeline is None:
            return None
        for phase in self.pipeline.phases:
            if phase.release is None:
                continue
            if name is None or phase.name.lower() == name.lower():
                return phase.name, phase.release
        return None

    def _release_alerts(self, event: Event) -> None:
        """A release that aborts or fails is an alert, whichever front end drove it: the same
        ``AlertRaised`` on the bus from ``cdtui release``, a pipeline run and the console."""
        from cdtui.release.events import AlertRaised, ReleaseStateChanged

        if isinstance(event, ReleaseStateChanged) and event.state in ("aborted", "failed"):
            where = f" at {event.step}%" if event.step else ""
            text = f"release {event.state}{where}: {event.reason}"
            self.bus.emit(AlertRaised(event.run_id, event.at, text, "error", "release"))

    @property
    def store(self) -> RunStore:
        """Opened on first use and subscribed to the bus once: every event of every run and
        action of this session is recorded before any other consumer sees it."""
        if self._store is None:
            self._store = RunStore(self.project_dir)
            self._store.mark_interrupted()
            self._unsubscribe_store = self.bus.subscribe(self._store.record)
        return self._store

    @contextlib.contextmanager
    def observing(self, subscribers: Sequence[Subscriber]) -> Iterator[None]:
        """Subscribers that follow one run or action, unsubscribed when it ends."""
        ends = [self.bus.subscribe(fn) for fn in subscribers]
        try:
            yield
        finally:
            for end in ends:
                end()

    # -- runs -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def plan(self, phases: Sequence[str] = (), stages: Sequence[str] = ()) -> Plan:
        assert self.pipeline is not None
        return make_plan(self.pipeline, phases, stages)

    def start(
        self,
        plan: Plan,
        subscribers: Sequence[Subscriber] = (),
        *,
        options: EngineOptions | None = None,
        selection: str = "",
    ) -> Engine:
        """Begin a run in the running event loop; the store records it before anyone else.

        ``subscribers`` follow this run only (they are on the session's bus until it ends)."""
        assert self.pipeline is not None
        if self.running:
            raise RuntimeError("a run is already in progress")
        options = options or EngineOptions(interactive_gates=True)
        engine = self.engine_for(plan, options, selection)
        self.engine = engine

        async def run() -> Status:
            with self.observing(subscribers):
                return await engine.run()

        self.task = asyncio.get_running_loop().create_task(run())
        return engine

    # -- release actions --------------------------------------------------------------------
    async def rollback(
        self,
        phase: str | None = None,
        *,
        via: str = "cli",
        user: str | None = None,
        subscribers: Sequence[Subscriber] = (),
        force: bool = False,
        redeploy: bool = False,
    ) -> ActionResult:
        """All traffic back, at once, on the colour that was live before the latest release.

        The same from every front end: the stage ``rollback`` of a run of its own (its log, its
        record, its events on the bus). It always works while a release is in progress: it asks
        the driving cdtui to abort, or takes the lock of one that is gone. A target colour that
        fails its health check is a refusal unless ``force``; ``redeploy`` deploys it first."""
        from cdtui.config.models import Stage
        from cdtui.engine.plan import PhasePlan
        from cdtui.stages.release import REFUSED
        from cdtui.stages.rollback import ROLLBACK_STAGE

        found = self.release_phase(phase)
        if found is None or self.pipeline is None:
            raise ValueError("this pipeline has no release phase (a release: block)")
        name, spec = found
        stage = Stage.of_kind(ROLLBACK_STAGE, "rollback", spec)
        release = self.pipeline.phase(name).model_copy(update={"gate": None, "stages": [stage]})
        plan = Plan((PhasePlan(release, (stage,), frozenset()),))
        asks = {"via": via, "force": force, "redeploy": redeploy}
        options = EngineOptions(user=user or _current_user(), overrides={"rollback": asks})
        label = "rollback" if via == "cli" else f"{via}: rollback"
        finished: list[StageFinished] = []
        watch = [*subscribers, lambda e: isinstance(e, StageFinished) and finished.append(e)]
        engine = self.engine_for(plan, options, label)
        with self.observing(watch):
            status = await engine.run()
        last = finished[-1] if finished else None
        reason = last.reason if last is not None else engine.status.lower()
        refusal = None
        if last is not None and last.exit_code == REFUSED:
            from cdtui.release.context import Refusal

            why, _, fix = reason.removeprefix("refused: ").partition(" Ways out: ")
            refusal = Refusal("Rollback refused", why, f"Ways out: {fix}" if fix else "")
        return ActionResult(engine.run_id, status, reason, refusal)

    async def recover(
        self,
        phase: str | None = None,
        *,
        via: str = "cli",
        user: str | None = None,
        subscribers: Sequence[Subscriber] = (),
    ) -> ActionResult:
        """A fresh idle colour from the last good artifact (digest verified), checked, then all
        traffic on it: the stage ``recover`` of a run of its own (a monitor's action)."""
        from cdtui.monitor.recover import recover

        run_id, status, reason = await recover(
            self, phase, via=via, user=user, subscribers=subscribers
        )
        return ActionResult(run_id, status, reason)

    def monitor(self, *, say: Callable[[str], None] | None = None) -> MonitorService:
        """The project's monitor on this session's bus (alerts recorded, in the event log and
        every sink); ``await m.run()`` watches until ``m.stop()``, raising MonitorBusy when
        another monitor runs for the project; NoMonitor when there is nothing to watch."""
        from cdtui.monitor.build import build_monitor

        return build_monitor(self, say=say)

    # -- steering the release this session drives --------------------------------------------
    def rollout(self) -> Any:
        """The rollout of this session's release stage while it runs (None otherwise)."""
        from cdtui.stages.release import RELEASE_STAGE

        return self.engine.control_of(RELEASE_STAGE) if self.running and self.engine else None

    def steer(self, action: str, who: str = "") -> bool:
        """``promote`` (end the hold), ``pause``/``resume`` (the hold clock), ``abort`` (all
        traffic back to live), ``rollback`` (abort, recorded as rolled back) of the release in
        progress; False when none runs here."""
        rollout = self.rollout()
        if rollout is None:
            return False
        who = who or _current_user()
        if action == "abort":
            rollout.abort(f"aborted by {who}")
        elif action == "rollback":
            rollout.abort(f"rolled back by {who}", rollback=True)
        elif action in ("promote", "pause", "resume"):
            getattr(rollout, action)()
        else:
            raise ValueError(f"no release action {action!r}")
        return True

    async def status(self, phase: str | None = None) -> StatusReport:
        """The split in force, both colours' health, the release state and its problems."""
        from cdtui.release.control import status

        found = self.release_phase(phase)
        if found is None:
            raise ValueError("this pipeline has no release phase (a release: block)")
        return await status(found[1], self.project_dir)

    def engine_for(self, plan: Plan, options: EngineOptions, selection: str) -> Engine:
        """An engine for a run beside the main one (a rollback must not wait for a run to end):
        recorded in the store, firing on the session's bus."""
        assert self.pipeline is not None
        secrets = resolve_secrets(self.pipeline, os.environ, file=str(self.path or "cdtui.yaml"))
        run_id = self.store.begin_run(self.pipeline.project, options.user, selection)
        self.start_notifier(secrets)
        return Engine(
            self.pipeline,
            plan,
            project_dir=self.project_dir,
            run_id=run_id,
            secrets=secrets,
            options=options,
            bus=self.bus,
        )

    def start_notifier(self, secrets: dict[str, str]) -> None:
        """The pipeline's ``notify:`` sinks on the bus, after the store (once per pipeline)."""
        if self.notifier is not None and self.notifier.pipeline is self.pipeline:
            return
        from cdtui.notify.notifier import Notifier

        if self.notifier is not None:
            self.notifier.close()
        assert self.pipeline is not None
        self.notifier = Notifier(self.pipeline, self.project_dir, secrets)
        self.notifier.attach(self.bus)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
        aws = sys.modules.get("cdtui.notify.aws")  # only if an AWS sink loaded boto3
        if aws is not None:
            aws.close_clients()
        if self._store is not None:
            self._unsubscribe_store()  # an event fired after this is not recorded, not an error
            self._store.flush()
            self._store.close()
            self._store = None
