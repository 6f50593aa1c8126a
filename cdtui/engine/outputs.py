"""``$CDTUI_OUTPUT`` and ``$CDTUI_ENV``: what a stage hands to later stages, as GitHub's
``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` do.

Each attempt gets two files beside its log. After it ends, ``key=value`` lines and GitHub's
heredoc form (``key<<EOF`` … ``EOF``) are read: outputs become ``${stages.NAME.outputs.KEY}``,
env lines the environment of stages that start later. Values are masked before they leave the
process (events, runs.db); a later process (``--phase Release`` after a gated run) sees the
stored, masked values.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.store.logs import log_path

if TYPE_CHECKING:
    from cdtui.config.models import Stage
    from cdtui.engine.engine import Engine
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


# -- the engine's side ----------------------------------------------------------------------------


def handoff_files(engine: Engine, phase: str, stage: str, attempt: int) -> tuple[Path, Path]:
    """The attempt's two files, named once (its env names them, its end reads them)."""
    key = (phase, stage, attempt)
    files = engine._handoffs.get(key)
    if files is None:
        files = paths_for(engine.logs_dir, engine.run_id, phase, stage, attempt)
        engine._handoffs[key] = files
    return files


def take_outputs(engine: Engine, phase: str, stage: Stage, attempt: int) -> None:
    """The attempt's $CDTUI_OUTPUT and $CDTUI_ENV: published, exported, recorded (masked)."""
    from cdtui.engine.events import OutputsPublished

    output_file, env_file = handoff_files(engine, phase, stage.name, attempt)
    if not (os.path.exists(output_file) or os.path.exists(env_file)):
        return
    outputs = parse_file(output_file, f"{stage.name}: $CDTUI_OUTPUT")
    env = parse_file(env_file, f"{stage.name}: $CDTUI_ENV", env=True)
    for path in (output_file, env_file):  # kept beside the log: no secret stays on disk
        engine.masker.mask_file(path)
    for text in outputs.warnings + env.warnings:
        engine.notice("warning", text, phase, stage.name)
    if outputs.values:
        engine.scope.publish("stages", stage.name, {"outputs": dict(outputs.values)})
    engine.exported_env.update(env.values)
    mask = engine.masker.mask_text
    engine.bus.emit(
        OutputsPublished(
            engine.run_id,
            time.time(),
            phase,
            stage.name,
            attempt,
            tuple((k, mask(v)) for k, v in outputs.values.items()),
            tuple((k, mask(v)) for k, v in env.values.items()),
        )
    )


def command_texts(stage: Stage) -> list[str]:
    """Every command text of a stage where ``${…}`` may appear (run, steps)."""
    run = stage.run
    texts = [run] if isinstance(run, str) else list(run or [])
    if stage.kind == "steps":
        for step in stage.spec.steps:
            texts += [step.run] if isinstance(step.run, str) else step.run
    return texts


def carry_outputs(engine: Engine) -> None:
    """Outputs a planned stage references from a stage this run leaves out (``--phase``
    after a gated run): the newest stored ones, as recorded (masked)."""
    from cdtui.engine.interpolate import references
    from cdtui.store.db import RunDB

    planned = [s for p in engine.plan.phases for s in p.stages]
    names = {s.name for s in planned}
    wanted = set()
    for stage in planned:
        for ref in references(" ".join(command_texts(stage))):
            parts = ref.split(".")
            if parts[0] == "stages" and len(parts) > 1 and parts[1] not in names:
                wanted.add(parts[1])
    db_path = engine.state_dir / "runs.db"
    if not wanted or not db_path.is_file():
        return
    where = [(p.name, s.name) for p in engine.pipeline.phases for s in p.stages]
    try:
        db = RunDB(db_path)
        try:
            found = latest(db, [key for key in where if key[1] in wanted])
        finally:
            db.close()
    except Exception as error:  # an unreadable store: the references fail, named, later
        engine.notice("warning", f"stored stage outputs unreadable: {error}")
        return
    for (_phase, name), parsed in found.items():
        engine.scope.publish("stages", name, {"outputs": parsed.values})
