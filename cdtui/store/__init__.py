"""The run store: one consumer of the event stream that never loses a run.

State events become append-only SQLite rows committed as they happen; output goes to per-attempt
log files (see ``logs.py``). ``mark_interrupted`` turns runs whose driving process died into
INTERRUPTED rows, so history never shows a dead run as RUNNING.
"""

from __future__ import annotations

import atexit
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cdtui.engine.events import (
    ArtifactStored,
    Event,
    GateApproved,
    GateWaiting,
    MetricRecorded,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
)
from cdtui.store import liveness
from cdtui.store.artifacts import ArtifactRecord, MetricRecord, artifact_file
from cdtui.store.db import AttemptRecord, RunDB, RunSummary, StoreError
from cdtui.store.logs import LogBook, log_path
from cdtui.store.paths import ensure_state_dir, state_dir

__all__ = [
    "ArtifactRecord",
    "AttemptRecord",
    "MetricRecord",
    "RunStore",
    "RunSummary",
    "StoreError",
    "store_exists",
]

_open_stores: weakref.WeakSet[RunStore] = weakref.WeakSet()


def store_exists(project_dir: Path) -> bool:
    """Whether a store was ever created here (read-only commands should not create one)."""
    return (state_dir(project_dir) / "runs.db").is_file()


@atexit.register
def _flush_open_stores() -> None:
    """An exception that ends the process must not take buffered output with it."""
    for store in list(_open_stores):
        store.flush()


class RunStore:
    """Records events in the project's state dir (``paths.py``); many processes may open it."""

    def __init__(self, project_dir: Path) -> None:
        self.root = ensure_state_dir(project_dir)
        self.logs_dir = self.root / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._db = RunDB(self.root / "runs.db")
        self._logs = LogBook(self.logs_dir)
        # Last status this process wrote per run / phase: a repeated status is not a state change.
        self._run_status: dict[int, Status] = {}
        self._phase_status: dict[tuple[int, str], Status] = {}
        self._handlers: dict[type, Callable[[Any], None]] = {
            RunStarted: self._run_started,
            RunFinished: self._run_finished,
            PhaseStarted: self._phase_started,
            PhaseFinished: self._phase_finished,
            GateWaiting: self._gate_waiting,
            GateApproved: self._gate_approved,
            StageStarted: self._stage_started,
            StageFinished: self._stage_finished,
            Notice: self._notice,
            ArtifactStored: self._artifact_stored,
            MetricRecorded: self._metric_recorded,
        }
        _open_stores.add(self)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------

    def begin_run(self, project: str, user: str, selection: str) -> int:
        """A new run, committed before anything runs so a crash still leaves its record."""
        run_id = self._db.insert_run(project, user, selection, time.time(), liveness.current())
        self._run_status[run_id] = Status.PENDING
        return run_id

    def record(self, event: Event) -> None:
        """Consume one event; output is the hot path and touches no SQL."""
        if type(event) is StageOutput:
            key = (event.run_id, event.phase, event.stage, event.attempt)
            self._logs.write(key, event.at, event.stream, event.text)
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def flush(self) -> None:
        self._logs.flush()

    def close(self) -> None:
        self._logs.close()
        self._db.close()
        _open_stores.discard(self)

    def mark_interrupted(self) -> list[int]:
        """INTERRUPTED for unfinished runs whose driver died; other hosts' runs are left alone."""

        def judge(who: liveness.ProcessIdentity) -> tuple[liveness.Liveness, str]:
            verdict = liveness.check(who)
            return verdict, liveness.death_reason(who, verdict)

        return self._db.interrupt_dead_runs(judge, time.time())

    def _set_run(self, run_id: int, status: Status, at: float, reason: str = "") -> None:
        if self._run_status.get(run_id) is status and not reason:
            return
        self._db.insert_run_state(run_id, status, at, reason)
        self._run_status[run_id] = status

    def _set_phase(
        self, run_id: int, phase: str, status: Status, at: float, reason: str = ""
    ) -> None:
        if self._phase_status.get((run_id, phase)) is status and not reason:
            return
        self._db.insert_phase_state(run_id, phase, status, at, reason)
        self._phase_status[(run_id, phase)] = status

    def _run_started(self, e: RunStarted) -> None:
        self._set_run(e.run_id, Status.RUNNING, e.at)

    def _run_finished(self, e: RunFinished) -> None:
        self._logs.close_run(e.run_id)
        self._set_run(e.run_id, e.status, e.at, e.reason)

    def _phase_started(self, e: PhaseStarted) -> None:
        self._set_phase(e.run_id, e.phase, Status.RUNNING, e.at)

    def _phase_finished(self, e: PhaseFinished) -> None:
        self._set_phase(e.run_id, e.phase, e.status, e.at, e.reason)

    def _gate_waiting(self, e: GateWaiting) -> None:
        with self._db.transaction():
            self._set_phase(e.run_id, e.phase, Status.WAITING, e.at)
            self._set_run(e.run_id, Status.WAITING, e.at)

    def _gate_approved(self, e: GateApproved) -> None:
        with self._db.transaction():
            self._db.insert_approval(e.run_id, e.phase, e.who, e.at)
            self._set_phase(e.run_id, e.phase, Status.RUNNING, e.at)
            self._set_run(e.run_id, Status.RUNNING, e.at)

    def _stage_started(self, e: StageStarted) -> None:
        self._logs.open((e.run_id, e.phase, e.stage, e.attempt))
        self._db.insert_attempt_state(
            e.run_id,
            e.phase,
            e.stage,
            e.attempt,
            Status.RUNNING,
            e.at,
            host=e.host,
            command=e.command,
            pid=e.pid,
        )

    def _stage_finished(self, e: StageFinished) -> None:
        self._logs.close_attempt((e.run_id, e.phase, e.stage, e.attempt))
        self._db.insert_attempt_state(
            e.run_id,
            e.phase,
            e.stage,
            e.attempt,
            e.status,
            e.at,
            exit_code=e.exit_code,
            host=e.host,
            reason=e.reason,
        )

    def _notice(self, e: Notice) -> None:
        self._db.insert_notice(e.run_id, e.level, e.text, e.phase, e.stage, e.at, e.extra)

    def _artifact_stored(self, e: ArtifactStored) -> None:
        self._db.insert_artifact(
            ArtifactRecord(e.run_id, e.phase, e.stage, e.attempt, e.path, e.sha256, e.size, e.at)
        )

    def _metric_recorded(self, e: MetricRecorded) -> None:
        self._db.insert_metric(
            MetricRecord(
                e.run_id,
                e.phase,
                e.stage,
                e.attempt,
                e.name,
                e.value,
                e.unit,
                e.threshold,
                e.op,
                e.ok,
                e.at,
            )
        )

    # -- reading ---------------------------------------------------------------------------------

    def recent_runs(self, limit: int = 20) -> list[RunSummary]:
        runs = (self._db.run(run_id) for run_id in self._db.recent_run_ids(limit))
        return [run for run in runs if run is not None]

    def run(self, run_id: int) -> RunSummary | None:
        return self._db.run(run_id)

    def latest_run_id(self) -> int | None:
        return self._db.latest_run_id()

    def data_version(self) -> int:
        """A number that changes when another process writes the store: an observer re-reads
        only then (this process's own writes do not change it)."""
        return self._db.data_version()

    def attempts(self, run_id: int) -> list[AttemptRecord]:
        """One record per attempt, in the order attempts started, folded from its state rows."""
        folded: dict[tuple[str, str, int], dict[str, Any]] = {}
        for (
            phase,
            stage,
            attempt,
            status,
            at,
            exit_code,
            host,
            reason,
            command,
        ) in self._db.attempt_rows(run_id):
            rec = folded.setdefault(
                (phase, stage, attempt), {"started": None, "command": "", "exit_code": None}
            )
            status = Status(status)
            if status is Status.RUNNING and rec["started"] is None:
                rec["started"] = at
            rec["command"] = command or rec["command"]
            if exit_code is not None:
                rec["exit_code"] = exit_code
            rec.update(status=status, finished=at if status.finished else None, host=host)
            rec["reason"] = reason
        return [
            AttemptRecord(
                phase=phase,
                stage=stage,
                attempt=attempt,
                log_path=self.log_path(run_id, phase, stage, attempt),
                **rec,
            )
            for (phase, stage, attempt), rec in folded.items()
        ]

    def approvals(self, run_id: int) -> list[tuple[str, str, float]]:
        """(phase, who, at) for each gate approval of the run: the audit trail."""
        return self._db.approvals(run_id)

    def notices(self, run_id: int) -> list[tuple[str, str, str, str, float]]:
        """(level, text, phase, stage, at) for each Notice the engine emitted during the run."""
        return self._db.notices(run_id)

    def log_path(self, run_id: int, phase: str, stage: str, attempt: int) -> Path:
        return log_path(self.logs_dir, run_id, phase, stage, attempt)

    def artifacts(self, run_id: int) -> list[ArtifactRecord]:
        """The files the run's succeeded attempts stored, in the order they were stored."""
        return self._db.artifacts(run_id)

    def latest_artifacts(self) -> list[ArtifactRecord]:
        """The artifacts of the newest run that stored any (empty when none ever did)."""
        run_id = self._db.latest_artifact_run()
        return [] if run_id is None else self._db.artifacts(run_id)

    def metrics(self, run_id: int) -> list[MetricRecord]:
        return self._db.metrics(run_id)

    def runs_with_artifact(self, sha256: str) -> list[int]:
        """Run ids, ascending, whose attempts stored exactly these bytes."""
        return self._db.runs_with_artifact(sha256)

    def artifact_file(self, sha256: str) -> Path:
        """Where the stored copy of a digest lives (it may not exist if never stored)."""
        return artifact_file(self.root, sha256)
