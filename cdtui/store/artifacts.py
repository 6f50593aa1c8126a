"""Stage outputs kept by content: ``artifacts:`` files and ``CDTUI_METRICS`` lines.

An artifact is copied to ``STATE/artifacts/sha256/<hex>`` (temp name, then ``os.replace``) so
the same bytes are stored once and a release can name exactly what it ships. A metrics file is
read bounded; a bad line is reported by file and line, never raised. Blocking file work only:
the engine calls these from a thread.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import math
import operator
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cdtui.store.logs import log_path

CHUNK = 1 << 20
HOLE_BLOCK = 1 << 16  # a stretch of zeros this long is left as a hole in a stored copy
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
    replaced: str = ""  # why a corrupt stored copy of these bytes was replaced, if one was


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


def outside_project(path: Path, project_dir: Path) -> Path | None:
    """The real path of ``path`` when it (or a symlink on the way) leaves the project, else None."""
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(project_dir))
    return None if real == root or real.is_relative_to(root) else real


def expand(patterns: list[str], cwd: Path, project_dir: Path) -> list[Path]:
    """Files matched by every pattern (relative to ``cwd``); one matching nothing is an error, and
    so is a ``cwd`` or a match whose real path leaves the project (``..``, absolute, symlink)."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        found.update(dict.fromkeys(expand_one(pattern, cwd, project_dir)))
    return list(found)


def expand_one(pattern: str, cwd: Path, project_dir: Path, optional: bool = False) -> list[Path]:
    """The files one pattern matches, confined to the project; none is an error unless optional."""
    if (real := outside_project(cwd, project_dir)) is not None:
        raise ArtifactError(f"artifacts: cwd {cwd} is outside the project ({real}): refused")
    matches = sorted(glob.glob(pattern, root_dir=cwd, recursive=True))
    files = [cwd / m for m in matches if (cwd / m).is_file()]
    if not files and not optional:
        raise ArtifactError(f"artifacts: {pattern} matched no file in {cwd}")
    for file in files:
        if (real := outside_project(file, project_dir)) is not None:
            raise ArtifactError(
                f"artifacts: {_display(file, project_dir)} resolves to {real}, outside the "
                f"project: refused (only files inside {project_dir} are kept)"
            )
    return files


def sha256_of(path: Path) -> str:
    """The file's digest; its holes are hashed as zeros without being read (reading a 2 GiB hole
    through the page cache took 8 s, skipping it 1 s)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _copy_sparse(fd, None)[0]
    finally:
        os.close(fd)


def verify_stored(path: Path, sha256: str) -> None:
    """Re-hash a stored copy before anything reads it: a copy corrupted on disk must never be
    shipped under the digest it was stored with."""
    try:
        actual = sha256_of(path)
    except OSError as error:
        raise ArtifactError(
            f"artifacts: cannot read the stored copy {path}: {error.strerror or error}"
        ) from error
    if actual != sha256:
        raise ArtifactError(f"{path}: digest mismatch: expected {sha256} got {actual}")


def _data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each stretch of ``fd`` that holds data; holes between them read as zeros.
    A file system without SEEK_DATA is one stretch (the zero-chunk check still keeps holes)."""
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: only a hole is left
                yield position, size
            return
        yield start, end
        position = end


def _copy_sparse(source: int, out: int | None) -> tuple[str, int]:
    """Copy ``source`` into ``out`` (None: only hash it) hashing every byte, writing no block of
    zeros: the holes of a sparse file stay holes (a 2 GiB sparse image takes its data's blocks)."""
    digest = hashlib.sha256()
    zeros = memoryview(bytes(CHUNK))
    size = os.fstat(source).st_size
    done = 0
    for start, end in _data_extents(source, size):
        for hole in range(done, start, CHUNK):
            digest.update(zeros[: min(CHUNK, start - hole)])
        done = start
        while done < end:
            chunk = os.pread(source, min(CHUNK, end - done), done)
            if not chunk:
                break
            digest.update(chunk)
            if out is not None:
                _write_data(out, chunk, done, zeros)
            done += len(chunk)
    for hole in range(done, size, CHUNK):
        digest.update(zeros[: min(CHUNK, size - hole)])
    done = max(done, size)
    if out is not None:
        os.ftruncate(out, done)
    return digest.hexdigest(), done


def _write_data(out: int, chunk: bytes, offset: int, zeros: memoryview) -> None:
    """Write ``chunk`` at ``offset`` but for its HOLE_BLOCKs of zeros, left as holes."""
    view = memoryview(chunk)
    for at in range(0, len(chunk), HOLE_BLOCK):
        piece = view[at : at + HOLE_BLOCK]
        if piece != zeros[: len(piece)]:
            os.pwrite(out, piece, offset + at)


def _open_inside(source: Path, project_dir: Path) -> int:
    """Open ``source`` for reading, refusing a path swapped for a symlink out of the project
    between the match and the open (the open file's own path is checked again)."""
    fd = os.open(os.path.realpath(source), os.O_RDONLY | os.O_NOFOLLOW)
    opened = Path(f"/proc/self/fd/{fd}")
    if opened.exists() and (real := outside_project(opened, project_dir)) is not None:
        os.close(fd)
        raise ArtifactError(
            f"artifacts: {_display(source, project_dir)} resolves to {real}, outside the "
            "project: refused"
        )
    return fd


def store_file(source: Path, store_root: Path, project_dir: Path) -> StoredFile:
    """Copy ``source`` (sparse) while hashing it, then keep one copy by digest. A copy already
    present is re-hashed: kept when it matches, replaced (and said so) when it is corrupt."""
    shown = _display(source, project_dir)
    incoming = store_root / "artifacts" / "sha256"
    try:
        incoming.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=incoming, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                reading = _open_inside(source, project_dir)
                try:
                    digest, size = _copy_sparse(reading, out.fileno())
                finally:
                    os.close(reading)
            target = artifact_file(store_root, digest)
            replaced = ""
            if target.is_file():
                try:
                    verify_stored(target, digest)
                except ArtifactError as error:
                    replaced = (
                        f"artifacts: {shown}: the stored copy was corrupt ({error}); replaced"
                    )
                else:
                    Path(temp).unlink()
                    return StoredFile(shown, digest, size)
            os.chmod(temp, 0o444)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ArtifactError(
            f"artifacts: cannot store {shown}: {error.strerror or error}"
        ) from error
    return StoredFile(shown, digest, size, replaced)


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
