"""The run store: one consumer of the event stream that never loses a run.

State events become append-only SQLite rows, written in order by one writer thread per file
(``writer.py``) so ``record`` never waits for runs.db's write lock; output goes to per-attempt
log files (see ``logs.py``). ``mark_interrupted`` turns runs whose driving process died into
INTERRUPTED rows, so history never shows a dead run as RUNNING. Release state (deployments,
alerts, released commits) is kept here too, from the release events; the rollout's own
intent/applied rows are written synchronously by ``releases.py``.

Reads are synchronous on the caller's connection (WAL: never blocked by a writer) and see this
process's earlier writes, except while the writer waits for another process's lock.
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
    CommitTested,
    Event,
    GateApproved,
    GateWaiting,
    MetricRecorded,
    Notice,
    OutputsPublished,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
    StepFinished,
    StepStarted,
)
from cdtui.release.events import AlertRaised, ColourDeployed, CommitReleased
from cdtui.runners.proctree import RUNNING
from cdtui.store import liveness, orphans, release_state, writer
from cdtui.store.artifacts import ArtifactRecord, MetricRecord, artifact_file
from cdtui.store.carryover import carry_over, pending
from cdtui.store.db import AttemptRecord, RunDB, RunSummary, StoreError
from cdtui.store.logs import LogBook, log_path
from cdtui.store.orphans import Orphan
from cdtui.store.paths import ensure_state_dir, state_dir
from cdtui.store.release_state import AlertRecord, Deployment

__all__ = [
    "AlertRecord",
    "ArtifactRecord",
    "AttemptRecord",
    "Deployment",
    "MetricRecord",
    "Orphan",
    "RunStore",
    "RunSummary",
    "StoreError",
    "store_exists",
]

_open_stores: weakref.WeakSet[RunStore] = weakref.WeakSet()


def store_exists(project_dir: Path) -> bool:
    """Whether a store was ever created here (read-only commands should not create one)."""
    return (state_dir(project_dir) / "runs.db").is_file()


def store_or_old_layout(project_dir: Path) -> bool:
    """Whether opening the store would find anything: runs.db or an old side file to carry."""
    return store_exists(project_dir) or pending(state_dir(project_dir))


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
        self._db = RunDB(self.root / "runs.db")  # reads, on the caller's thread
        if pending(self.root):  # the old layout's side files: once, before anything is written
            carry_over(self._db, self.root)
        self._writer = writer.acquire(self.root / "runs.db")
        self._listeners: list[writer.Listener] = []
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
            ColourDeployed: self._colour_deployed,
            AlertRaised: self._alert_raised,
            CommitReleased: self._commit_released,
            OutputsPublished: self._outputs_published,
            CommitTested: self._commit_tested,
            StepStarted: self._step_changed,
            StepFinished: self._step_changed,
        }
        _open_stores.add(self)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------

    def begin_run(self, project: str, user: str, selection: str) -> int:
        """A new run, committed before anything runs so a crash still leaves its record: this
        one write waits (for the lock too), after whatever this process queued before it."""
        who, at = liveness.current(), time.time()
        run_id = self._writer.call(
            lambda db: db.insert_run(project, user, selection, at, who), f"run of {project}"
        )
        self._run_status[run_id] = Status.PENDING
        return run_id

    def record(self, event: Event) -> None:
        """Consume one event and return at once: output goes to the log files (no SQL), state
        rows to the writer's queue."""
        if type(event) is StageOutput:
            key = (event.run_id, event.phase, event.stage, event.attempt)
            self._logs.write(key, event.at, event.stream, event.text)
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def on_problem(self, listener: writer.Listener) -> None:
        """Be told (from the writer thread) when rows wait for a lock long or are lost."""
        self._listeners.append(listener)
        self._writer.listeners.append(listener)

    @property
    def lost(self) -> list[str]:
        """What the writer could not record (each also logged and told when it happened)."""
        return list(self._writer.lost)

    def flush(self) -> None:
        """Buffered output to disk, and queued rows to runs.db unless it is locked elsewhere."""
        self._logs.flush()
        self._writer.settle()

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until every queued row is in runs.db, however long another process holds the
        lock; False if ``timeout`` passed first. Not for the console loop."""
        return self._writer.sync(timeout)

    def close(self) -> None:
        if self not in _open_stores:
            return
        _open_stores.discard(self)
        self._logs.close()
        for listener in self._listeners:
            self._writer.listeners.remove(listener)
        writer.release(self._writer)
        self._db.close()

    def mark_interrupted(self) -> list[int]:
        """INTERRUPTED for unfinished runs whose driver died; other hosts' runs are left alone."""

        def judge(who: liveness.ProcessIdentity) -> tuple[liveness.Liveness, str]:
            verdict = liveness.check(who)
            return verdict, liveness.death_reason(who, verdict)

        now = time.time()
        return self._writer.call(lambda db: db.interrupt_dead_runs(judge, now), "interrupted runs")

    def orphans(self) -> list[Orphan]:
        """Processes of interrupted local attempts still alive here (after a ``kill -9``)."""
        return orphans.find(self._reads)

    def end_orphans(self, found: list[Orphan]) -> list[int]:
        """End them (SIGTERM, then SIGKILL); the pids that survived even that."""
        return orphans.end(found)

    def _write(self, write: writer.Write, event: Event) -> None:
        self._writer.submit(write, f"{type(event).__name__} of run {event.run_id}")

    def _run_changed(self, run_id: int, status: Status, reason: str = "") -> bool:
        """Whether this is a state change (a repeated status is not) and note it."""
        if self._run_status.get(run_id) is status and not reason:
            return False
        self._run_status[run_id] = status
        return True

    def _phase_changed(self, run_id: int, phase: str, status: Status, reason: str = "") -> bool:
        if self._phase_status.get((run_id, phase)) is status and not reason:
            return False
        self._phase_status[(run_id, phase)] = status
        return True

    def _set_run(self, e: Event, status: Status, reason: str = "") -> None:
        if self._run_changed(e.run_id, status, reason):
            self._write(lambda db: db.insert_run_state(e.run_id, status, e.at, reason), e)

    def _set_phase(self, e: Event, phase: str, status: Status, reason: str = "") -> None:
        if self._phase_changed(e.run_id, phase, status, reason):
            self._write(lambda db: db.insert_phase_state(e.run_id, phase, status, e.at, reason), e)

    def _run_started(self, e: RunStarted) -> None:
        self._set_run(e, Status.RUNNING)

    def _run_finished(self, e: RunFinished) -> None:
        self._logs.close_run(e.run_id)
        self._set_run(e, e.status, e.reason)

    def _phase_started(self, e: PhaseStarted) -> None:
        self._set_phase(e, e.phase, Status.RUNNING)

    def _phase_finished(self, e: PhaseFinished) -> None:
        self._set_phase(e, e.phase, e.status, e.reason)

    def _gate_waiting(self, e: GateWaiting) -> None:
        self._gate(e, e.phase, Status.WAITING, None)

    def _gate_approved(self, e: GateApproved) -> None:
        self._gate(e, e.phase, Status.RUNNING, e.who)

    def _gate(self, e: Event, phase: str, status: Status, who: str | None) -> None:
        """The phase, the run (and the approval): one transaction, as one state change."""
        phase_changed = self._phase_changed(e.run_id, phase, status)
        run_changed = self._run_changed(e.run_id, status)

        def write(db: RunDB) -> None:
            with db.transaction():
                if who is not None:
                    db.insert_approval(e.run_id, phase, who, e.at)
                if phase_changed:
                    db.insert_phase_state(e.run_id, phase, status, e.at)
                if run_changed:
                    db.insert_run_state(e.run_id, status, e.at)

        self._write(write, e)

    def _stage_started(self, e: StageStarted) -> None:
        # The log is opened by the attempt's first output (store/logs.py: a silent one has none).
        where = {"host": e.host, "command": e.command, "pid": e.pid}
        key = (e.run_id, e.phase, e.stage, e.attempt, Status.RUNNING, e.at)
        proc = RUNNING.get(e.pid) if e.pid is not None else None
        if proc is None:
            self._write(lambda db: db.insert_attempt_state(*key, **where), e)
            return

        def started(db: RunDB) -> None:  # the attempt and what finds its processes: one commit
            with db.transaction():
                db.insert_attempt_state(*key, **where)
                orphans.insert(db, key[:4], proc.pgid, proc.token, proc.since)

        self._write(started, e)
        orphans.track(lambda write: self._write(write, e), key[:4], proc)

    def _stage_finished(self, e: StageFinished) -> None:
        self._logs.close_attempt((e.run_id, e.phase, e.stage, e.attempt))
        how = {"exit_code": e.exit_code, "host": e.host, "reason": e.reason}
        key = (e.run_id, e.phase, e.stage, e.attempt, e.status, e.at)
        self._write(lambda db: db.insert_attempt_state(*key, **how), e)

    def _notice(self, e: Notice) -> None:
        row = (e.run_id, e.level, e.text, e.phase, e.stage, e.at, e.extra)
        self._write(lambda db: db.insert_notice(*row), e)

    def _artifact_stored(self, e: ArtifactStored) -> None:
        r = ArtifactRecord(e.run_id, e.phase, e.stage, e.attempt, e.path, e.sha256, e.size, e.at)
        self._write(lambda db: db.insert_artifact(r), e)

    def _metric_recorded(self, e: MetricRecorded) -> None:
        m = MetricRecord(
            *(e.run_id, e.phase, e.stage, e.attempt, e.name, e.value, e.unit, e.threshold),
            *(e.op, e.ok, e.at),
        )
        self._write(lambda db: db.insert_metric(m), e)

    def _colour_deployed(self, e: ColourDeployed) -> None:
        d = Deployment(e.colour, e.sha256, e.artifact, e.built_by, e.run_id, e.at)
        self._write(lambda db: release_state.insert_deployment(db, d), e)

    def _alert_raised(self, e: AlertRaised) -> None:
        a = AlertRecord(e.at, e.text, e.level, e.source, e.run_id)
        self._write(lambda db: release_state.insert_alert(db, a), e)

    def _commit_released(self, e: CommitReleased) -> None:
        self._write(
            lambda db: release_state.insert_released_commit(db, e.run_id, e.commit, e.at), e
        )

    def _outputs_published(self, e: OutputsPublished) -> None:
        from cdtui.engine import outputs

        rows = [(outputs.OUTPUT, k, v) for k, v in e.outputs]
        rows += [(outputs.ENV, k, v) for k, v in e.env]
        where = (e.run_id, e.phase, e.stage, e.attempt)
        self._write(lambda db: outputs.insert(db, *where, rows, e.at), e)

    def _step_changed(self, e: StepStarted | StepFinished) -> None:
        if isinstance(e, StepStarted):
            row = (*(e.run_id, e.phase, e.stage, e.attempt, e.step, e.index), "RUNNING", e.at)
            row += (None, None, "")
        else:
            row = (*(e.run_id, e.phase, e.stage, e.attempt, e.step, e.index), e.status, e.at)
            row += (e.exit_code, e.duration, e.reason)
        self._write(
            lambda db: db.execute(
                "INSERT INTO step_states (run_id, phase, stage, attempt, step, idx, status, at,"
                " exit_code, duration, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ),
            e,
        )

    def _commit_tested(self, e: CommitTested) -> None:
        row = (e.run_id, e.commit, int(e.dirty), e.at)
        self._write(
            lambda db: db.execute(
                "INSERT INTO run_commits (run_id, git_commit, dirty, at) VALUES (?, ?, ?, ?)", row
            ),
            e,
        )

    # -- reading ---------------------------------------------------------------------------------
    # Each read first lets this process's queued rows land (unless runs.db is locked elsewhere).

    @property
    def _reads(self) -> RunDB:
        self._writer.settle()
        return self._db

    def latest_deployments(self) -> dict[str, Deployment]:
        """The newest deployment of each colour."""
        return release_state.latest_deployments(self._reads)

    def alerts(self, limit: int = 100) -> list[AlertRecord]:
        """The newest ``limit`` alerts, oldest first."""
        return release_state.alerts(self._reads, limit)

    def last_released_commit(self) -> str:
        """git HEAD after the newest release that ended done ('' before the first)."""
        return release_state.last_released_commit(self._reads)

    def phases(self, run_id: int) -> dict[str, tuple[Status, str]]:
        """Each phase's newest (status, reason), in the order the phases started."""
        rows = self._reads.phase_rows(run_id)
        return {phase: (Status(status), reason) for phase, status, reason in rows}

    def recent_runs(self, limit: int = 20) -> list[RunSummary]:
        runs = (self._reads.run(run_id) for run_id in self._reads.recent_run_ids(limit))
        return [run for run in runs if run is not None]

    def run(self, run_id: int) -> RunSummary | None:
        return self._reads.run(run_id)

    def latest_run_id(self) -> int | None:
        return self._reads.latest_run_id()

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
        ) in self._reads.attempt_rows(run_id):
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
        return self._reads.approvals(run_id)

    def notices(self, run_id: int) -> list[tuple[str, str, str, str, float]]:
        """(level, text, phase, stage, at) for each Notice the engine emitted during the run."""
        return self._reads.notices(run_id)

    def log_path(self, run_id: int, phase: str, stage: str, attempt: int) -> Path:
        return log_path(self.logs_dir, run_id, phase, stage, attempt)

    def artifacts(self, run_id: int) -> list[ArtifactRecord]:
        """The files the run's succeeded attempts stored, in the order they were stored."""
        return self._reads.artifacts(run_id)

    def latest_artifacts(self) -> list[ArtifactRecord]:
        """The artifacts of the newest run that stored any (empty when none ever did)."""
        run_id = self._reads.latest_artifact_run()
        return [] if run_id is None else self._reads.artifacts(run_id)

    def metrics(self, run_id: int) -> list[MetricRecord]:
        return self._reads.metrics(run_id)

    def runs_with_artifact(self, sha256: str) -> list[int]:
        """Run ids, ascending, whose attempts stored exactly these bytes."""
        return self._reads.runs_with_artifact(sha256)

    def steps(self, run_id: int) -> list[tuple]:
        """(phase, stage, attempt, step, status, at, exit_code, duration, reason) rows, oldest
        first: each step's newest row is its state."""
        return self._reads.execute(
            "SELECT phase, stage, attempt, step, status, at, exit_code, duration, reason"
            " FROM step_states WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()

    def tested_commit(self, run_id: int) -> tuple[str, bool] | None:
        """(commit, working tree was dirty) that the run tested, if it ran in a git repository."""
        row = self._reads.execute(
            "SELECT git_commit, dirty FROM run_commits WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return (row[0], bool(row[1])) if row else None

    def outputs(self, run_id: int) -> dict[str, dict[str, str]]:
        """What each stage of the run wrote to $CDTUI_OUTPUT (masked), by stage."""
        from cdtui.engine import outputs

        return outputs.run_outputs(self._reads, run_id)

    def artifact_file(self, sha256: str) -> Path:
        """Where the stored copy of a digest lives (it may not exist if never stored)."""
        return artifact_file(self.root, sha256)
