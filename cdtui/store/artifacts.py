"""Stage outputs kept by content: ``artifacts:`` files and ``CDTUI_METRICS`` lines.

An artifact is copied to ``STATE/artifacts/sha256/<hex>`` (temp name, then ``os.replace``) so
the same bytes are stored once and a release can name exactly what it ships. A metrics file is
read bounded; a bad line is reported by file and line, never raised. Blocking file work only:
the engine calls these from a thread.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import operator
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdtui.store.logs import log_path

CHUNK = 1 << 20
METRICS_MAX_BYTES = 1 << 20
METRICS_MAX_COUNT = 1000
METRICS_MAX_WARNINGS = 10
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    run_id: int
    phase: str
    stage: str
    attempt: int
    path: str  # relative to the project dir
    sha256: str
    size: int
    at: float


@dataclass(frozen=True, slots=True)
class MetricRecord:
    run_id: int
    phase: str
    stage: str
    attempt: int
    name: str
    value: float
    unit: str
    threshold: float | None
    op: str
    ok: bool | None  # None when the metric has no threshold
    at: float


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: str  # relative to the project dir
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    unit: str = ""
    threshold: float | None = None
    op: str = "<="

    @property
    def ok(self) -> bool | None:
        return None if self.threshold is None else OPS[self.op](self.value, self.threshold)


class ArtifactError(Exception):
    """A stage's ``artifacts:`` could not be kept; the message is the stage's failure reason."""


def artifact_file(store_root: Path, sha256: str) -> Path:
    return store_root / "artifacts" / "sha256" / sha256


def metrics_path(logs_dir: Path, run_id: int, phase: str, stage: str, attempt: int) -> Path:
    """The per-attempt file a stage appends metric lines to, beside its log."""
    return log_path(logs_dir, run_id, phase, stage, attempt).with_suffix(".metrics.jsonl")


def _display(path: Path, project_dir: Path) -> str:
    return os.path.relpath(path, project_dir)


def expand(patterns: list[str], cwd: Path, project_dir: Path) -> list[Path]:
    """Files matched by every pattern (relative to ``cwd``); one matching nothing is an error."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, root_dir=cwd, recursive=True))
        files = [cwd / m for m in matches if (cwd / m).is_file()]
        if not files:
            raise ArtifactError(f"artifacts: {pattern} matched no file in {cwd}")
        found.update(dict.fromkeys(files))
    return list(found)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def store_file(source: Path, store_root: Path, project_dir: Path) -> StoredFile:
    """Hash ``source`` and keep one copy by digest; a copy already present is not rewritten."""
    shown = _display(source, project_dir)
    try:
        digest = sha256_of(source)
        target = artifact_file(store_root, digest)
        size = source.stat().st_size
        if target.is_file():
            return StoredFile(shown, digest, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            copied = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    copied.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if copied.hexdigest() != digest:
                raise ArtifactError(f"artifacts: {shown} changed while it was being stored")
            os.chmod(temp, 0o444)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ArtifactError(
            f"artifacts: cannot store {shown}: {error.strerror or error}"
        ) from error
    return StoredFile(shown, digest, size)


def store_artifacts(
    patterns: list[str], cwd: Path, project_dir: Path, store_root: Path
) -> list[StoredFile]:
    """Expand all patterns first, so a stage with a missing artifact stores nothing."""
    return [
        store_file(path, store_root, project_dir) for path in expand(patterns, cwd, project_dir)
    ]


def _number(raw: object, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{what} must be a number, got {json.dumps(raw)}")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {raw}")
    return value


def parse_metric(line: str) -> Metric:
    """One JSON line; ValueError names what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ValueError('expected an object like {"name": ..., "value": ...}')
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string")
    if "value" not in data:
        raise ValueError("value is missing")
    value = _number(data["value"], "value")
    unit = data.get("unit") or ""
    if not isinstance(unit, str):
        raise ValueError("unit must be a string")
    raw_threshold = data.get("threshold")
    threshold = None if raw_threshold is None else _number(raw_threshold, "threshold")
    op = data.get("op") or "<="
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {json.dumps(op)}")
    return Metric(name.strip(), value, unit, threshold, op)


def read_metrics(path: Path, shown: str) -> tuple[list[Metric], list[str]]:
    """Metrics from a stage's file (bounded in bytes and count) and warnings naming file:line."""
    try:
        with path.open("rb") as fh:
            data = fh.read(METRICS_MAX_BYTES + 1)
    except FileNotFoundError:
        return [], []
    except OSError as error:
        return [], [f"{shown}: cannot read metrics: {error.strerror or error}"]
    warnings: list[str] = []
    if len(data) > METRICS_MAX_BYTES:
        data = data[:METRICS_MAX_BYTES]
        data = data[: data.rfind(b"\n") + 1]  # a cut line is not read
        warnings.append(f"{shown}: over {METRICS_MAX_BYTES} bytes; only the first MiB was read")
    metrics: list[Metric] = []
    bad = 0
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not raw.strip():
            continue
        if len(metrics) >= METRICS_MAX_COUNT:
            warnings.append(f"{shown}:{number}: over {METRICS_MAX_COUNT} metrics; the rest ignored")
            break
        try:
            metrics.append(parse_metric(raw))
        except ValueError as error:
            bad += 1
            if bad <= METRICS_MAX_WARNINGS:
                warnings.append(f"{shown}:{number}: {error}")
    if bad > METRICS_MAX_WARNINGS:
        warnings.append(f"{shown}: {bad - METRICS_MAX_WARNINGS} more bad lines not shown")
    return metrics, warnings
