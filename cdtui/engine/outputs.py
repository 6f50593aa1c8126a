"""``$CDTUI_OUTPUT`` and ``$CDTUI_ENV``: what a stage hands to later stages, as GitHub's
``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` do.

Each attempt gets two files beside its log. After it ends, ``key=value`` lines and GitHub's
heredoc form (``key<<EOF`` … ``EOF``) are read: outputs become ``${stages.NAME.outputs.KEY}``,
env lines the environment of stages that start later. Values are masked before they leave the
process (events, runs.db); a later process (``--phase Release`` after a gated run) sees the
stored, masked values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.store.logs import log_path

if TYPE_CHECKING:
    from cdtui.store.db import RunDB

MAX_BYTES = 1 << 20  # a runaway writer is cut, said in a warning
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OUTPUT, ENV = "output", "env"


@dataclass
class Parsed:
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def paths_for(
    logs_dir: Path, run_id: int, phase: str, stage: str, attempt: int
) -> tuple[Path, Path]:
    """(CDTUI_OUTPUT, CDTUI_ENV) of one attempt, beside its log."""
    log = log_path(logs_dir, run_id, phase, stage, attempt)
    return log.with_suffix(".output"), log.with_suffix(".env")


def parse_file(path: Path, shown: str, *, env: bool = False) -> Parsed:
    """Read ``key=value`` and ``key<<DELIM`` lines; a bad line is a warning naming its line."""
    parsed = Parsed()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return parsed
    if len(data) > MAX_BYTES:
        data = data[:MAX_BYTES]
        parsed.warnings.append(f"{shown}: more than {MAX_BYTES} bytes, the rest is ignored")
    lines = data.decode("utf-8", "replace").split("\n")
    pattern = _ENV_KEY if env else _KEY
    number = 0
    while number < len(lines):
        line = lines[number].rstrip("\r")
        number += 1
        if not line.strip():
            continue
        heredoc = re.match(r"^([^=<\s]+)<<(\S+)$", line)
        if heredoc:
            key, delimiter = heredoc.groups()
            body: list[str] = []
            while number < len(lines) and lines[number].rstrip("\r") != delimiter:
                body.append(lines[number].rstrip("\r"))
                number += 1
            if number >= len(lines):
                parsed.warnings.append(f"{shown}:{number}: {key}<<{delimiter} is never closed")
                continue
            number += 1
            value = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
        else:
            parsed.warnings.append(
                f"{shown}:{number}: expected key=value or key<<EOF: {line[:80]!r}"
            )
            continue
        if not pattern.match(key):
            what = "environment variable name" if env else "output name"
            parsed.warnings.append(f"{shown}:{number}: {key[:80]!r} is not a valid {what}")
            continue
        parsed.values[key] = value
    return parsed


# -- runs.db: table stage_outputs (schema.py) -----------------------------------------------------


def insert(db: RunDB, run_id: int, phase: str, stage: str, attempt: int, rows, at: float) -> None:
    """``rows``: (kind, key, value) with kind ``output`` or ``env``."""
    db.execute("BEGIN")
    try:
        for kind, key, value in rows:
            db.execute(
                "INSERT INTO stage_outputs (run_id, phase, stage, attempt, kind, key, value, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, phase, stage, attempt, kind, key, value, at),
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def latest(db: RunDB, stages: list[tuple[str, str]]) -> dict[tuple[str, str], Parsed]:
    """Per (phase, stage): the outputs (``values``) of its newest attempt that recorded any."""
    found: dict[tuple[str, str], Parsed] = {}
    for phase, stage in stages:
        row = db.execute(
            "SELECT run_id, attempt FROM stage_outputs WHERE phase = ? AND stage = ? AND kind = ?"
            " ORDER BY seq DESC LIMIT 1",
            (phase, stage, OUTPUT),
        ).fetchone()
        if row is None:
            continue
        rows = db.execute(
            "SELECT key, value FROM stage_outputs WHERE run_id = ? AND phase = ? AND stage = ?"
            " AND attempt = ? AND kind = ? ORDER BY seq",
            (row[0], phase, stage, row[1], OUTPUT),
        ).fetchall()
        found[(phase, stage)] = Parsed(dict(rows))
    return found


def run_outputs(db: RunDB, run_id: int) -> dict[str, dict[str, str]]:
    """A run's outputs per stage (the last attempt's), for history and tests."""
    rows = db.execute(
        "SELECT stage, key, value FROM stage_outputs WHERE run_id = ? AND kind = ? ORDER BY seq",
        (run_id, OUTPUT),
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for stage, key, value in rows:
        found.setdefault(stage, {})[key] = value
    return found
