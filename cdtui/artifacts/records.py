"""Artifact provenance and promotions in runs.db, written synchronously like release records.

``artifact_records``: what a stage kept (name, path, size, sha256, run, stage, commit, time, the
repository it went to). ``promotions``: which run an environment deploys now; a promotion is one
insert inside ``BEGIN IMMEDIATE`` that first checks the environment still points where the
promoter saw it (compare-and-swap), so two promotions cannot cross. ``artifact_removals``: what
gc deleted. All append-only: a trigger refuses UPDATE and DELETE.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cdtui.store.paths import ensure_state_dir

BUSY_TIMEOUT_S = 10.0
UNSET = object()  # promote(): no expectation about the current run

OWN_TABLES = ("artifact_records", "promotions", "artifact_removals")


def _schema() -> list[str]:
    """This module's tables, indexes and append-only triggers, as the store's schema has them."""
    from cdtui.store.schema import statements

    def ours(text: str) -> bool:
        return any(f"EXISTS {name} (" in text or f" ON {name}" in text for name in OWN_TABLES)

    return [text for text in statements() if ours(text)]


class PromotionConflict(Exception):
    """The environment moved since the promoter looked: nothing was written."""


@dataclass(frozen=True, slots=True)
class Provenance:
    run_id: int
    phase: str
    stage: str
    attempt: int
    name: str  # '' for an unnamed pattern
    path: str  # relative to the project
    sha256: str
    size: int
    git_commit: str
    location: str  # local:DIR or s3://bucket/prefix
    at: float


@dataclass(frozen=True, slots=True)
class Promotion:
    env: str
    run_id: int
    previous: int | None
    who: str
    at: float


class ArtifactRecords:
    """One connection to runs.db for provenance and promotions; use as a context manager."""

    def __init__(self, project_dir: Path) -> None:
        path = ensure_state_dir(project_dir) / "runs.db"
        self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        for statement in _schema():
            self._conn.execute(statement)

    def __enter__(self) -> ArtifactRecords:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # -- provenance --------------------------------------------------------------------------
    def add(self, record: Provenance) -> None:
        r = record
        self._conn.execute(
            "INSERT INTO artifact_records (run_id, phase, stage, attempt, name, path, sha256,"
            " size, git_commit, location, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.run_id, r.phase, r.stage, r.attempt, r.name, r.path, r.sha256, r.size,
             r.git_commit, r.location, r.at),
        )  # fmt: skip

    def of_run(self, run_id: int) -> list[Provenance]:
        """The run's artifacts, a name's newest attempt winning."""
        rows = self._select("WHERE run_id = ? ORDER BY seq", (run_id,))
        newest: dict[tuple[str, str], Provenance] = {}
        for row in rows:
            newest[(row.name or row.path, row.stage if not row.name else "")] = row
        return list(newest.values())

    def all(self, limit: int = 1000) -> list[Provenance]:
        return self._select("ORDER BY seq DESC LIMIT ?", (limit,))[::-1]

    def runs(self) -> list[int]:
        """Every run that kept an artifact, newest first (provenance or the run history's)."""
        found = self._conn.execute(
            "SELECT run_id FROM artifact_records UNION SELECT run_id FROM artifacts"
            " ORDER BY run_id DESC"
        ).fetchall() if self._has("artifacts") else self._conn.execute(
            "SELECT DISTINCT run_id FROM artifact_records ORDER BY run_id DESC"
        ).fetchall()  # fmt: skip
        return [run for (run,) in found]

    def latest_named_run(self) -> int | None:
        """The newest run that kept a named artifact (``from: latest``)."""
        if not self._has("artifact_records"):
            return None
        found = self._conn.execute(
            "SELECT run_id FROM artifact_records WHERE name != '' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return found[0] if found else None

    def digests_of_runs(self, runs: list[int]) -> set[str]:
        if not runs:
            return set()
        marks = ",".join("?" * len(runs))
        found = {d for (d,) in self._conn.execute(
            f"SELECT sha256 FROM artifact_records WHERE run_id IN ({marks})", runs)}  # fmt: skip
        if self._has("artifacts"):
            found |= {d for (d,) in self._conn.execute(
                f"SELECT sha256 FROM artifacts WHERE run_id IN ({marks})", runs)}  # fmt: skip
        return found

    def _has(self, table: str) -> bool:
        return bool(
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
        )

    def _select(self, tail: str, args: tuple) -> list[Provenance]:
        rows = self._conn.execute(
            "SELECT run_id, phase, stage, attempt, name, path, sha256, size, git_commit, location,"
            f" at FROM artifact_records {tail}",
            args,
        ).fetchall()
        return [Provenance(*row) for row in rows]

    # -- promotion ---------------------------------------------------------------------------
    def current(self, env: str) -> Promotion | None:
        row = self._conn.execute(
            "SELECT env, run_id, previous, who, at FROM promotions WHERE env = ?"
            " ORDER BY seq DESC LIMIT 1",
            (env,),
        ).fetchone()
        return Promotion(*row) if row else None

    def environments(self) -> dict[str, Promotion]:
        """Each environment's current promotion."""
        rows = self._conn.execute(
            "SELECT env, run_id, previous, who, at FROM promotions WHERE seq IN"
            " (SELECT MAX(seq) FROM promotions GROUP BY env) ORDER BY env"
        ).fetchall()
        return {row[0]: Promotion(*row) for row in rows}

    def promote(self, env: str, run_id: int, who: str, expected: object = UNSET) -> Promotion:
        """Point ``env`` at ``run_id`` if it still points at ``expected`` (None: nothing yet)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            now = self.current(env)
            now_run = now.run_id if now else None
            if expected is not UNSET and now_run != expected:
                raise PromotionConflict(
                    f"{env} was promoted to run {now_run} by {now.who if now else '?'} since you "
                    f"looked (you expected run {expected}): nothing was changed; look again"
                )
            at = time.time()
            self._conn.execute(
                "INSERT INTO promotions (env, run_id, previous, who, at) VALUES (?, ?, ?, ?, ?)",
                (env, run_id, now_run, who, at),
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return Promotion(env, run_id, now_run, who, at)

    # -- gc ----------------------------------------------------------------------------------
    def removed(self, sha256: str, location: str) -> None:
        self._conn.execute(
            "INSERT INTO artifact_removals (sha256, location, at) VALUES (?, ?, ?)",
            (sha256, location, time.time()),
        )

    def removals(self) -> set[str]:
        return {d for (d,) in self._conn.execute("SELECT sha256 FROM artifact_removals")}


def who_am_i() -> str:
    """Who a promotion names: user@host."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{os.uname().nodename}"


def released_digests(records: ArtifactRecords, per_colour: int = 2) -> set[str]:
    """What each release colour runs now and ran before (the ``deployments`` rows)."""
    if not records._has("deployments"):
        return set()
    rows = records._conn.execute("SELECT colour, sha256 FROM deployments ORDER BY seq DESC")
    seen: dict[str, list[str]] = {}
    for colour, digest in rows:
        found = seen.setdefault(colour, [])
        if len(found) < per_colour and digest not in found:
            found.append(digest)
    return {d for found in seen.values() for d in found}
