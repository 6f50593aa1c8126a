"""``cdtui monitor``'s state in runs.db: one ``monitor_alerts`` row per alert state change
(firing, repeated, resolved) with its evidence, one ``monitor_actions`` row per action taken.

The newest row of an alert is its state, so a monitor that restarts knows what already fires
(and re-fires nothing); the console reads the same rows. A state change is committed before the
monitor acts on it (``commit``): a crash right after cannot fire it twice. A firing also adds an
``alerts`` row, so the release view's alert history shows it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdtui.store import writer
from cdtui.store.db import RunDB
from cdtui.store.paths import ensure_state_dir, state_dir

FIRING = ("firing", "repeated")


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert: str
    state: str  # firing | repeated | resolved | evidence (the logs of a firing, added later)
    check: str
    cause: str  # service | checker
    text: str
    level: str
    fired_at: float
    at: float
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def firing(self) -> bool:
        return self.state in FIRING


@dataclass(frozen=True, slots=True)
class ActionRow:
    alert: str
    action: str
    outcome: str  # done | failed | refused | skipped
    reason: str
    run_id: int
    at: float


class MonitorRows:
    """Reads on the caller's connection; writes through the store's writer thread."""

    def __init__(self, project_dir: Path, *, create: bool = True) -> None:
        root = ensure_state_dir(project_dir) if create else state_dir(project_dir)
        self.path = root / "runs.db"
        self._db = RunDB(self.path)
        self._writer = writer.acquire(self.path)

    def close(self) -> None:
        writer.release(self._writer)
        self._db.close()

    def __enter__(self) -> MonitorRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------
    def commit_alert(self, row: AlertRow) -> None:
        """Written and committed when this returns (blocking: call it off the event loop)."""

        def write(db: RunDB) -> None:
            with db.transaction() as conn:
                conn.execute(
                    "INSERT INTO monitor_alerts (alert, state, check_name, cause, text, level,"
                    " evidence, fired_at, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *(row.alert, row.state, row.check, row.cause, row.text, row.level),
                        json.dumps(row.evidence, default=str),
                        *(row.fired_at, row.at),
                    ),
                )
                if row.state in ("firing", "resolved"):
                    level = row.level if row.firing else "success"
                    conn.execute(
                        "INSERT INTO alerts (run_id, text, level, source, at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (0, row.text, level, f"monitor:{row.alert}", row.at),
                    )

        self._writer.call(write, f"monitor alert {row.alert} {row.state}")

    def add_action(self, row: ActionRow) -> None:
        self._writer.submit(
            lambda db: db.execute(
                "INSERT INTO monitor_actions (alert, action, outcome, reason, run_id, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row.alert, row.action, row.outcome, row.reason, row.run_id, row.at),
            ),
            f"monitor action {row.action} of {row.alert}",
        )

    def sync(self) -> None:
        self._writer.sync(30)

    # -- reading -----------------------------------------------------------------------------
    def current(self) -> dict[str, AlertRow]:
        """The newest row of every alert ever recorded."""
        self._writer.settle()
        rows = self._db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM monitor_alerts WHERE seq IN"
            " (SELECT MAX(seq) FROM monitor_alerts WHERE state != 'evidence' GROUP BY alert)"
            " ORDER BY seq"
        ).fetchall()
        return {row[0]: _alert(row) for row in rows}

    def history(self, limit: int = 50) -> list[AlertRow]:
        """The newest ``limit`` state changes, oldest first."""
        self._writer.settle()
        rows = self._db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM monitor_alerts ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_alert(row) for row in reversed(rows)]

    def evidence(self, alert: str, since: float) -> list[AlertRow]:
        """The rows that hold the evidence of ``alert``'s firing at ``since`` (logs come later)."""
        self._writer.settle()
        rows = self._db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM monitor_alerts WHERE alert = ? AND fired_at = ?"
            " AND state IN ('firing', 'evidence') ORDER BY seq",
            (alert, since),
        ).fetchall()
        return [_alert(row) for row in rows]

    def actions(self, limit: int = 50) -> list[ActionRow]:
        self._writer.settle()
        rows = self._db.execute(
            "SELECT alert, action, outcome, reason, run_id, at FROM monitor_actions"
            " ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [ActionRow(*row) for row in reversed(rows)]

    def last_taken(self) -> dict[tuple[str, str], float]:
        """When each (alert, action) was last taken (not skipped): its cooldown runs from there."""
        self._writer.settle()
        rows = self._db.execute(
            "SELECT alert, action, MAX(at) FROM monitor_actions WHERE outcome != 'skipped'"
            " GROUP BY alert, action"
        ).fetchall()
        return {(alert, action): at for alert, action, at in rows}


_ALERT_COLUMNS = "alert, state, check_name, cause, text, level, fired_at, at, evidence"


def _alert(row: tuple[Any, ...]) -> AlertRow:
    *head, evidence = row
    try:
        parsed = json.loads(evidence)
    except ValueError:
        parsed = {}
    return AlertRow(*head, evidence=parsed)
