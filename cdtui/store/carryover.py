"""Carry the side files of the old ``.cdtui/`` layout into runs.db, once, losing nothing.

deployments.jsonl, alerts.jsonl and released-commit become rows of ``deployments``, ``alerts``
and ``released_commits``. The protocol, safe against a crash at any step and against two
processes opening the store at once:

1. ``X`` is renamed to ``X.importing`` (atomic: one process wins, a late append by an old cdtui
   makes a new ``X``, imported on a later open);
2. in one transaction: unless ``carried_over`` already names this file with this digest, its
   rows and a ``carried_over`` row are inserted (a crash before COMMIT leaves no row);
3. ``X.importing`` is renamed to ``X.migrated`` (kept for the operator; a crash before it only
   repeats step 3 next time, since step 2 finds the digest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from cdtui.store.db import RunDB
from cdtui.store.release_state import (
    AlertRecord,
    Deployment,
    insert_alert,
    insert_deployment,
    insert_released_commit,
)

DEPLOYMENTS = "deployments.jsonl"
ALERTS = "alerts.jsonl"
RELEASED_COMMIT = "released-commit"
FILES = (DEPLOYMENTS, ALERTS, RELEASED_COMMIT)


def pending(root: Path) -> bool:
    """Whether an old side file waits to be carried over (a few stat calls)."""
    return any((root / name).exists() or (root / f"{name}.importing").exists() for name in FILES)


def carry_over(db: RunDB, root: Path) -> int:
    """Import every old side file found in ``root``; the number of rows added."""
    added = 0
    for name in FILES:
        importing = root / f"{name}.importing"
        if importing.exists():  # a crash in an earlier import: finish it first
            added += _import(db, name, importing)
        with contextlib.suppress(FileNotFoundError):  # another process took it
            os.rename(root / name, importing)
            added += _import(db, name, importing)
    return added


def _import(db: RunDB, name: str, path: Path) -> int:
    try:
        data, mtime = path.read_bytes(), path.stat().st_mtime
    except FileNotFoundError:  # another process finished it
        return 0
    digest = hashlib.sha256(data).hexdigest()
    added = 0
    with db.transaction():
        done = db.execute(
            "SELECT 1 FROM carried_over WHERE name = ? AND sha256 = ?", (name, digest)
        ).fetchone()
        if done is None:
            text = data.decode(errors="replace")
            added = _PARSERS[name](db, text, mtime)
            db.execute(
                "INSERT INTO carried_over (name, sha256, rows, at) VALUES (?, ?, ?, ?)",
                (name, digest, added, time.time()),
            )
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, _kept_name(path.parent, name))
    return added


def _kept_name(root: Path, name: str) -> Path:
    kept = root / f"{name}.migrated"
    n = 1
    while kept.exists():  # an old cdtui wrote the file again after an earlier import
        n += 1
        kept = root / f"{name}.migrated.{n}"
    return kept


def _json_lines(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if isinstance(row, dict):
                found.append(row)
    return found


def _deployments(db: RunDB, text: str, mtime: float) -> int:
    added = 0
    for row in _json_lines(text):
        with contextlib.suppress(TypeError, ValueError):  # unreadable lines were skipped before
            d = Deployment(**row)
            insert_deployment(
                db,
                Deployment(
                    str(d.colour), str(d.sha256), str(d.artifact), int(d.built_by),
                    int(d.run_id), float(d.at),
                ),
            )  # fmt: skip
            added += 1
    return added


def _alerts(db: RunDB, text: str, mtime: float) -> int:
    added = 0
    for row in _json_lines(text):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            insert_alert(db, AlertRecord(float(row["at"]), str(row["text"]), str(row["level"])))
            added += 1
    return added


def _released_commit(db: RunDB, text: str, mtime: float) -> int:
    commit = text.strip()
    if not commit:
        return 0
    insert_released_commit(db, 0, commit, mtime)
    return 1


_PARSERS: dict[str, Callable[[RunDB, str, float], int]] = {
    DEPLOYMENTS: _deployments,
    ALERTS: _alerts,
    RELEASED_COMMIT: _released_commit,
}
