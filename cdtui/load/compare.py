"""This run against the previous passing run of the same stage, read from the run store's
metrics table: the change of each figure in percent, worse as positive (``regression``)."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

LOWER_IS_BETTER = ("http_req_duration", "http_req_failed")
COMPARED = ("http_req_duration", "http_req_failed", "http_reqs")


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    previous: float
    current: float

    @property
    def regression(self) -> float | None:
        """Percent worse than before (negative: better); None when before was 0."""
        if self.previous == 0:
            return None
        change = (self.current - self.previous) / abs(self.previous) * 100
        lower = self.name.startswith(LOWER_IS_BETTER)
        return change if lower else -change


def previous_passing(
    db: Path, run_id: int, phase: str, stage: str
) -> tuple[int | None, dict[str, float]]:
    """The newest earlier run whose attempt of ``phase``/``stage`` succeeded, and its metrics.

    Read-only; a store that is missing or unreadable has no previous run.
    """
    if not db.exists():
        return None, {}
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn,
    ):
        row = conn.execute(
            "SELECT run_id, attempt FROM attempt_states WHERE run_id < ? AND phase = ?"
            " AND stage = ? AND status = 'SUCCEEDED' ORDER BY run_id DESC, seq DESC LIMIT 1",
            (run_id, phase, stage),
        ).fetchone()
        if row is None:
            return None, {}
        rows = conn.execute(
            "SELECT name, value FROM metrics WHERE run_id = ? AND phase = ? AND stage = ?"
            " AND attempt = ? ORDER BY seq",
            (row[0], phase, stage, row[1]),
        ).fetchall()
        return row[0], dict(rows)
    return None, {}


def compare(previous: dict[str, float], current: dict[str, float]) -> list[Change]:
    """The HTTP figures both runs recorded (not counts, not the generator's own)."""
    return [
        Change(name, previous[name], value)
        for name, value in current.items()
        if name in previous and name.startswith(COMPARED) and "count" not in name
    ]
