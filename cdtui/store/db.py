"""The run history in SQLite: append-only rows (schema.py), current state derived from the latest.

Every state change of a run, phase, stage attempt or gate is one INSERT (or one transaction),
made by the store's writer thread (writer.py) so no caller waits for the write lock. WAL lets
several cdtui processes (a running pipeline, ``cdtui history``, ``cdtui logs --follow``) share
one file: readers are never blocked by a writer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cdtui.engine.events import Status
from cdtui.store.artifacts import ArtifactRecord, MetricRecord
from cdtui.store.liveness import Liveness, ProcessIdentity
from cdtui.store.schema import StoreError, migrate

__all__ = ["AttemptRecord", "RunDB", "RunSummary", "StoreError"]

BUSY_TIMEOUT_S = 10.0
_UNFINISHED = tuple(s.value for s in Status if not s.finished)


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    project: str
    status: Status
    started: float
    finished: float | None
    duration: float | None  # None while the run has not finished
    user: str
    selection: str
    counts: dict[str, int] = field(default_factory=dict)  # stage status -> stages in it
    reason: str = ""
    pid: int = 0
    hostname: str = ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    phase: str
    stage: str
    attempt: int
    status: Status
    exit_code: int | None
    started: float | None
    finished: float | None
    host: str
    reason: str
    log_path: Path
    command: str = ""


class RunDB:
    """SQL for the store; knows nothing of events or log files."""

    def __init__(self, path: Path, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self._conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed row survives a crash of this process (not power loss).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        migrate(self._conn, path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue, not fail."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def close(self) -> None:
        self._conn.close()

    # -- writes ----------------------------------------------------------------------------------

    def insert_run(
        self, project: str, user: str, selection: str, at: float, who: ProcessIdentity
    ) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (project, user, selection, created, pid, hostname, proc_start,"
                " boot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (project, user, selection, at, who.pid, who.hostname, who.start_ticks, who.boot_id),
            )
            run_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO run_states (run_id, status, at) VALUES (?, ?, ?)",
                (run_id, Status.PENDING.value, at),
            )
        return run_id

    def insert_run_state(self, run_id: int, status: Status, at: float, reason: str = "") -> None:
        self.execute(
            "INSERT INTO run_states (run_id, status, at, reason) VALUES (?, ?, ?, ?)",
            (run_id, status.value, at, reason),
        )

    def insert_phase_state(
        self, run_id: int, phase: str, status: Status, at: float, reason: str = ""
    ) -> None:
        self.execute(
            "INSERT INTO phase_states (run_id, phase, status, at, reason) VALUES (?, ?, ?, ?, ?)",
            (run_id, phase, status.value, at, reason),
        )

    def insert_attempt_state(
        self,
        run_id: int,
        phase: str,
        stage: str,
        attempt: int,
        status: Status,
        at: float,
        *,
        exit_code: int | None = None,
        host: str = "local",
        reason: str = "",
        command: str = "",
        pid: int | None = None,
    ) -> None:
        self.execute(
            "INSERT INTO attempt_states (run_id, phase, stage, attempt, status, at, exit_code,"
            " host, reason, command, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                phase,
                stage,
                attempt,
                status.value,
                at,
                exit_code,
                host,
                reason,
                command,
                pid,
            ),
        )

    def insert_approval(self, run_id: int, phase: str, who: str, at: float) -> None:
        self.execute(
            "INSERT INTO approvals (run_id, phase, who, at) VALUES (?, ?, ?, ?)",
            (run_id, phase, who, at),
        )

    def insert_notice(
        self,
        run_id: int,
        level: str,
        text: str,
        phase: str,
        stage: str,
        at: float,
        extra: dict[str, str],
    ) -> None:
        self.execute(
            "INSERT INTO notices (run_id, level, text, phase, stage, at, extra)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, level, text, phase, stage, at, json.dumps(extra)),
        )

    def insert_artifact(self, r: ArtifactRecord) -> None:
        self.execute(
            "INSERT INTO artifacts (run_id, phase, stage, attempt, path, sha256, size, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (r.run_id, r.phase, r.stage, r.attempt, r.path, r.sha256, r.size, r.at),
        )

    def insert_metric(self, record: MetricRecord) -> None:
        self.execute(
            "INSERT INTO metrics (run_id, phase, stage, attempt, name, value, unit, threshold,"
            " op, ok, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.run_id,
                record.phase,
                record.stage,
                record.attempt,
                record.name,
                record.value,
                record.unit,
                record.threshold,
                record.op,
                None if record.ok is None else int(record.ok),
                record.at,
            ),
        )

    def interrupt_dead_runs(
        self, judge: Callable[[ProcessIdentity], tuple[Liveness, str]], now: float
    ) -> list[int]:
        """INTERRUPTED rows for unfinished runs whose driver is gone; re-checked under the lock."""
        dead: dict[int, str] = {}
        for run_id, who in self._unfinished_runs():
            verdict, reason = judge(who)
            if verdict not in (Liveness.ALIVE, Liveness.UNKNOWN):
                dead[run_id] = reason
        if not dead:
            return []
        marked = []
        with self.transaction():
            still_open = {run_id for run_id, _ in self._unfinished_runs()}
            for run_id, reason in dead.items():
                if run_id not in still_open:
                    continue  # another process marked it first
                self._interrupt(run_id, reason, now)
                marked.append(run_id)
        return marked

    def _interrupt(self, run_id: int, reason: str, now: float) -> None:
        for (phase,) in self.execute(
            f"SELECT phase FROM phase_states WHERE seq IN (SELECT MAX(seq) FROM phase_states"
            f" WHERE run_id = ? GROUP BY phase) AND status IN {_UNFINISHED}",
            (run_id,),
        ).fetchall():
            self.insert_phase_state(run_id, phase, Status.INTERRUPTED, now, reason)
        for phase, stage, attempt, host in self.execute(
            f"SELECT phase, stage, attempt, host FROM attempt_states WHERE seq IN (SELECT MAX(seq)"
            f" FROM attempt_states WHERE run_id = ? GROUP BY phase, stage, attempt)"
            f" AND status IN {_UNFINISHED}",
            (run_id,),
        ).fetchall():
            self.insert_attempt_state(
                run_id, phase, stage, attempt, Status.INTERRUPTED, now, host=host, reason=reason
            )
        self.insert_run_state(run_id, Status.INTERRUPTED, now, reason)

    # -- reads -----------------------------------------------------------------------------------

    def _unfinished_runs(self) -> list[tuple[int, ProcessIdentity]]:
        rows = self.execute(
            "SELECT r.id, r.pid, r.hostname, r.proc_start, r.boot_id FROM runs r"
            " JOIN run_states s ON s.seq = (SELECT MAX(seq) FROM run_states WHERE run_id = r.id)"
            f" WHERE s.status IN {_UNFINISHED}"
        ).fetchall()
        return [
            (run_id, ProcessIdentity(pid, host, ticks, boot))
            for run_id, pid, host, ticks, boot in rows
        ]

    def latest_run_id(self) -> int | None:
        return self.execute("SELECT MAX(id) FROM runs").fetchone()[0]

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's PRAGMA data_version)."""
        return self.execute("PRAGMA data_version").fetchone()[0]

    def recent_run_ids(self, limit: int) -> list[int]:
        rows = self.execute("SELECT id FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [run_id for (run_id,) in rows]

    def run(self, run_id: int) -> RunSummary | None:
        row = self.execute(
            "SELECT project, user, selection, created, pid, hostname FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        project, user, selection, created, pid, hostname = row
        status, at, reason = self.execute(
            "SELECT status, at, reason FROM run_states WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
            (run_id,),
        ).fetchone() or (Status.PENDING.value, created, "")
        status = Status(status)
        finished = at if status.finished else None
        counts: dict[str, int] = {}
        for (stage_status,) in self.execute(
            "SELECT status FROM attempt_states WHERE seq IN (SELECT MAX(seq) FROM attempt_states"
            " WHERE run_id = ? GROUP BY phase, stage)",
            (run_id,),
        ):
            counts[stage_status] = counts.get(stage_status, 0) + 1
        return RunSummary(
            id=run_id,
            project=project,
            status=status,
            started=created,
            finished=finished,
            duration=None if finished is None else finished - created,
            user=user,
            selection=selection,
            counts=counts,
            reason=reason,
            pid=pid,
            hostname=hostname,
        )

    def phase_rows(self, run_id: int) -> list[tuple[str, str, str]]:
        """(phase, status, reason) of each phase's newest row, in the order phases started."""
        return self.execute(
            "SELECT phase, status, reason FROM phase_states WHERE seq IN (SELECT MAX(seq)"
            " FROM phase_states WHERE run_id = ? GROUP BY phase) ORDER BY"
            " (SELECT MIN(seq) FROM phase_states p WHERE p.run_id = ? AND p.phase ="
            " phase_states.phase)",
            (run_id, run_id),
        ).fetchall()

    def attempt_rows(self, run_id: int) -> list[tuple]:
        """All attempt state rows of a run, oldest first (the store folds them into records)."""
        return self.execute(
            "SELECT phase, stage, attempt, status, at, exit_code, host, reason, command"
            " FROM attempt_states WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()

    def approvals(self, run_id: int) -> list[tuple[str, str, float]]:
        return self.execute(
            "SELECT phase, who, at FROM approvals WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()

    def notices(self, run_id: int) -> list[tuple[str, str, str, str, float]]:
        return self.execute(
            "SELECT level, text, phase, stage, at FROM notices WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()

    def artifacts(self, run_id: int) -> list[ArtifactRecord]:
        rows = self.execute(
            "SELECT run_id, phase, stage, attempt, path, sha256, size, at FROM artifacts"
            " WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [ArtifactRecord(*row) for row in rows]

    def latest_artifact_run(self) -> int | None:
        return self.execute("SELECT MAX(run_id) FROM artifacts").fetchone()[0]

    def runs_with_artifact(self, sha256: str) -> list[int]:
        rows = self.execute(
            "SELECT DISTINCT run_id FROM artifacts WHERE sha256 = ? ORDER BY run_id", (sha256,)
        ).fetchall()
        return [run_id for (run_id,) in rows]

    def metrics(self, run_id: int) -> list[MetricRecord]:
        rows = self.execute(
            "SELECT run_id, phase, stage, attempt, name, value, unit, threshold, op, ok, at"
            " FROM metrics WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [
            MetricRecord(*row[:9], None if row[9] is None else bool(row[9]), row[10])
            for row in rows
        ]
