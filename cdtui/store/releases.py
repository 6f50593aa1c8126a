"""Release records in runs.db: what cdtui meant to set on a router (intent), what it read back
(applied), and each rollout state, append-only like the run history; plus the per-router lock.

The router is the source of truth for weights; these rows are what lets a restarted cdtui tell
whether the router still holds what cdtui last did, or was changed (or left half-changed) since.

Unlike the run history (queued to the store's writer thread, store/writer.py), these rows are
written synchronously, on purpose: the intent row is committed before the router is touched and
the applied row after its read-back. That ordering is the crash-safety guarantee, so a rollout
step waits for the write lock here rather than racing ahead of its own record.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cdtui.release.routers.base import Weights
from cdtui.store import liveness
from cdtui.store.flock import holder_of, let_go, try_exclusive
from cdtui.store.paths import ensure_state_dir, state_dir

BUSY_TIMEOUT_S = 10.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS release_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, router TEXT NOT NULL, run_id INTEGER NOT NULL,
        kind TEXT NOT NULL, live TEXT NOT NULL, from_green INTEGER, to_green INTEGER,
        step INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL, pid INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS release_records_router ON release_records(router, seq)",
    *(
        f"CREATE TRIGGER IF NOT EXISTS release_records_no_{op.lower()} BEFORE {op} ON "
        f"release_records BEGIN SELECT RAISE(ABORT, 'release_records is append-only: {op} is "
        "not allowed'); END"
        for op in ("UPDATE", "DELETE")
    ),
)


class ReleaseLocked(Exception):
    """Another live cdtui process drives this router."""


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    seq: int
    router: str
    run_id: int
    kind: str  # intent | applied | reconciled | state
    live: str  # the colour that was live when this release began
    from_weights: Weights | None
    to_weights: Weights | None
    step: int
    state: str
    reason: str
    at: float
    pid: int

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        if self.kind == "intent":
            what = f"asked {self.from_weights} -> {self.to_weights}, not confirmed applied"
        elif self.kind in ("applied", "reconciled"):
            what = f"{self.kind} {self.to_weights}"
        else:
            what = f"state {self.state}" + (f": {self.reason}" if self.reason else "")
        return f"run {self.run_id}, {when}, step {self.step}%: {what} (pid {self.pid})"


def _weights(green: int | None) -> Weights | None:
    return None if green is None else Weights.green_percent(green)


class ReleaseRecords:
    """Rows for one router, identified by ``router_key`` (kind + address), in STATE/runs.db."""

    def __init__(self, project_dir: Path, router_key: str) -> None:
        self.root = ensure_state_dir(project_dir)
        self.router = router_key
        self._conn = sqlite3.connect(
            self.root / "runs.db", timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def _insert(
        self,
        run_id: int,
        kind: str,
        live: str,
        from_w: Weights | None = None,
        to_w: Weights | None = None,
        step: int = 0,
        state: str = "",
        reason: str = "",
    ) -> None:
        self._conn.execute(
            "INSERT INTO release_records (router, run_id, kind, live, from_green, to_green, step,"
            " state, reason, at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.router,
                run_id,
                kind,
                live,
                None if from_w is None else from_w.green,
                None if to_w is None else to_w.green,
                step,
                state,
                reason,
                time.time(),
                os.getpid(),
            ),
        )

    def intent(self, run_id: int, live: str, from_w: Weights, to_w: Weights, step: int) -> None:
        """Committed before the router is touched: a crash after it is visible on restart."""
        self._insert(run_id, "intent", live, from_w, to_w, step)

    def applied(self, run_id: int, live: str, from_w: Weights, to_w: Weights, step: int) -> None:
        self._insert(run_id, "applied", live, from_w, to_w, step)

    def reconciled(self, run_id: int, live: str, weights: Weights, reason: str) -> None:
        """The operator adopted what the router holds as the new record."""
        self._insert(run_id, "reconciled", live, None, weights, weights.green, reason=reason)

    def state(self, run_id: int, live: str, state: str, step: int, reason: str = "") -> None:
        self._insert(run_id, "state", live, step=step, state=state, reason=reason)

    def rows(self, limit: int = 50) -> list[ReleaseRecord]:
        """Newest first."""
        found = self._conn.execute(
            "SELECT seq, router, run_id, kind, live, from_green, to_green, step, state, reason,"
            " at, pid FROM release_records WHERE router = ? ORDER BY seq DESC LIMIT ?",
            (self.router, limit),
        ).fetchall()
        return [
            ReleaseRecord(
                seq, router, run_id, kind, live, _weights(fg), _weights(tg), step, st, rs, at, pid
            )
            for seq, router, run_id, kind, live, fg, tg, step, st, rs, at, pid in found
        ]

    def last_weights(self) -> ReleaseRecord | None:
        """The newest intent, applied or reconciled row: what the router should hold."""
        return next((r for r in self.rows(200) if r.kind != "state"), None)

    def last_state(self) -> ReleaseRecord | None:
        return next((r for r in self.rows(200) if r.kind == "state"), None)


def router_key(kind: str, address: str) -> str:
    return f"{kind}:{address}"


class RouterLock:
    """One cdtui process drives a router at a time: an flock on STATE/release-<key>.lock.

    The kernel drops an flock when its holder dies (even by SIGKILL), so a dead holder's lock is
    taken over at once; the file names the holder so a refusal can say who has it.
    """

    def __init__(self, project_dir: Path, key: str) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.path = state_dir(project_dir) / f"release-{digest}.lock"
        self.key = key
        self._fd: int | None = None

    def acquire(self) -> None:
        me = liveness.current()
        self._fd = try_exclusive(self.path, f"{me.pid} {me.hostname} {me.start_ticks}\n")
        if self._fd is None:
            raise ReleaseLocked(
                f"another cdtui process ({self._holder()}) is driving the {self.key} router: "
                "wait for it, or stop it first"
            )

    def release(self) -> None:
        let_go(self._fd)
        self._fd = None

    def __enter__(self) -> RouterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _holder(self) -> str:
        text = (holder_of(self.path) or "").split()
        return f"pid {text[0]} on {text[1]}" if len(text) >= 2 else "pid unknown"
