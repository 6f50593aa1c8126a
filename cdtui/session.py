"""A project opened by a front end: its pipeline, its store, and the run in progress.

The console and the headless command both drive runs through this, so starting a run,
recording it and cancelling it work the same everywhere. It imports no UI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cdtui.config import (
    ConfigError,
    LocatedError,
    find_pipeline_file,
    load_pipeline,
    resolve_secrets,
)
from cdtui.config.models import Pipeline
from cdtui.engine.engine import Engine, EngineOptions
from cdtui.engine.events import Event
from cdtui.engine.plan import Plan, make_plan
from cdtui.store import RunStore

Subscriber = Callable[[Event], None]


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

    def release_phase(self):
        """(phase name, ReleaseSpec) of the first phase with a ``release:`` block, else None."""
        if self.pipeline is None:
            return None
        for phase in self.pipeline.phases:
            if phase.release is not None:
                return phase.name, phase.release
        return None

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore(self.project_dir)
            self._store.mark_interrupted()
        return self._store

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
        subscribers: Sequence[Subscriber],
        *,
        options: EngineOptions | None = None,
        selection: str = "",
    ) -> Engine:
        """Begin a run in the running event loop; the store records it before anyone else."""
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
        )
        engine.subscribe(self.store.record)
        for subscriber in subscribers:
            engine.subscribe(subscriber)
        self.engine = engine
        self.task = asyncio.get_running_loop().create_task(engine.run())
        return engine

    def close(self) -> None:
        if self._store is not None:
            self._store.flush()
            self._store.close()
            self._store = None
