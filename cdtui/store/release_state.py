"""Release state beside the run history: which bytes each colour was deployed with, the alerts
an operator was told, and the commit that was live after each release. One row per event
(``ColourDeployed``, ``AlertRaised``, ``CommitReleased``), newest row wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdtui.store.db import RunDB


@dataclass(frozen=True, slots=True)
class Deployment:
    colour: str
    sha256: str
    artifact: str  # the artifact's path in the project, as its stage stored it
    built_by: int  # the run whose stage stored these bytes
    run_id: int  # the run that deployed them
    at: float


@dataclass(frozen=True, slots=True)
class AlertRecord:
    at: float
    text: str
    level: str  # info | warning | error
    source: str = ""
    run_id: int = 0


def insert_deployment(db: RunDB, d: Deployment) -> None:
    db.execute(
        "INSERT INTO deployments (run_id, colour, sha256, artifact, built_by, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (d.run_id, d.colour, d.sha256, d.artifact, d.built_by, d.at),
    )


def insert_alert(db: RunDB, a: AlertRecord) -> None:
    db.execute(
        "INSERT INTO alerts (run_id, text, level, source, at) VALUES (?, ?, ?, ?, ?)",
        (a.run_id, a.text, a.level, a.source, a.at),
    )


def insert_released_commit(db: RunDB, run_id: int, commit: str, at: float) -> None:
    db.execute(
        "INSERT INTO released_commits (run_id, git_commit, at) VALUES (?, ?, ?)",
        (run_id, commit, at),
    )


def latest_deployments(db: RunDB) -> dict[str, Deployment]:
    rows = db.execute(
        "SELECT colour, sha256, artifact, built_by, run_id, at FROM deployments WHERE seq IN"
        " (SELECT MAX(seq) FROM deployments GROUP BY colour) ORDER BY colour"
    ).fetchall()
    return {row[0]: Deployment(*row) for row in rows}


def alerts(db: RunDB, limit: int) -> list[AlertRecord]:
    """The newest ``limit`` alerts, oldest first."""
    rows = db.execute(
        "SELECT at, text, level, source, run_id FROM alerts ORDER BY seq DESC LIMIT ?", (limit,)
    ).fetchall()
    return [AlertRecord(*row) for row in reversed(rows)]


def last_released_commit(db: RunDB) -> str:
    row = db.execute("SELECT git_commit FROM released_commits ORDER BY seq DESC LIMIT 1").fetchone()
    return "" if row is None else row[0]
