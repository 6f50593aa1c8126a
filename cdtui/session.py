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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
from cdtui.engine.events import Event, RunFinished, RunStarted, Status
from cdtui.engine.plan import Plan, make_plan
from cdtui.store import RunStore

if TYPE_CHECKING:
    from cdtui.config.release import ReleaseSpec
    from cdtui.release.context import Refusal

Subscriber = Callable[[Event], None]


@dataclass
class RunRecord:
    """The run a release action is recorded as; the action sets how it ended."""

    run_id: int
    status: Status = Status.FAILED
    reason: str = ""


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
        self._store: RunStore | None = None

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
        secrets = resolve_secrets(self.pipeline, os.environ, file=str(self.path or "cdtui.yaml"))
        options = options or EngineOptions(interactive_gates=True)
        run_id = self.store.begin_run(self.pipeline.project, options.user, selection)
        engine = Engine(
            self.pipeline,
            plan,
            project_dir=self.project_dir,
            run_id=run_id,
            secrets=secrets,
            options=options,
            bus=self.bus,
        )
        self.engine = engine

        async def run() -> Status:
            with self.observing(subscribers):
                return await engine.run()

        self.task = asyncio.get_running_loop().create_task(run())
        return engine

    # -- release actions --------------------------------------------------------------------
    @contextlib.contextmanager
    def recorded(
        self, what: str, *, user: str | None = None, subscribers: Sequence[Subscriber] = ()
    ) -> Iterator[RunRecord]:
        """A release action recorded as a run of its own (``cdtui history`` lists it), its
        events on the bus. It ends FAILED unless the action sets ``status``; an exception's text
        is its reason, a cancel makes it CANCELLED."""
        user = user or _current_user()
        project = self.pipeline.project if self.pipeline else self.project_dir.name
        record = RunRecord(self.store.begin_run(project, user, what))
        with self.observing(subscribers):
            self.bus.emit(RunStarted(record.run_id, time.time(), project, (what,), user))
            try:
                yield record
            except (KeyboardInterrupt, asyncio.CancelledError):
                record.status, record.reason = Status.CANCELLED, "interrupted"
                raise
            except Exception as exc:
                record.status, record.reason = Status.FAILED, record.reason or str(exc)
                raise
            finally:
                self.bus.emit(RunFinished(record.run_id, time.time(), record.status, record.reason))

    async def rollback(
        self,
        phase: str | None = None,
        *,
        via: str = "cli",
        user: str | None = None,
        subscribers: Sequence[Subscriber] = (),
    ) -> ActionResult:
        """All traffic back, at once, on the colour that was live before the latest release.

        The same from every front end: one recorded run (``VIA: rollback``), the rollout's events
        on the bus, the router lock held throughout; another cdtui holding the router is a
        refusal, a router error a failure (said, never raised)."""
        from cdtui.release.context import Refusal
        from cdtui.release.control import locked
        from cdtui.release.control import rollback as roll_back
        from cdtui.release.rollout import ReleaseError
        from cdtui.release.routers import RouterError
        from cdtui.store.releases import ReleaseLocked

        found = self.release_phase(phase)
        if found is None:
            raise ValueError("this pipeline has no release phase (a release: block)")
        spec = found[1]
        label = "rollback" if via == "cli" else f"{via}: rollback"
        with self.recorded(label, user=user, subscribers=subscribers) as record:
            try:
                async with locked(spec, self.project_dir) as handle:
                    outcome = await roll_back(handle, run_id=record.run_id, emit=self.bus.emit)
            except ReleaseLocked as exc:
                record.reason = str(exc)
                refusal = Refusal(
                    "Another cdtui holds the router",
                    str(exc),
                    "Wait for that release to end, or stop that cdtui. Nothing was changed.",
                )
                return ActionResult(record.run_id, Status.FAILED, record.reason, refusal)
            except (ReleaseError, RouterError) as exc:
                record.reason = str(exc)
                return ActionResult(record.run_id, Status.FAILED, record.reason)
            record.status, record.reason = Status.SUCCEEDED, outcome.reason
            return ActionResult(record.run_id, Status.SUCCEEDED, outcome.reason)

    def close(self) -> None:
        if self._store is not None:
            self._store.flush()
            self._store.close()
            self._store = None
