"""What the engine does with a stage's ``artifacts:`` after it succeeded, and what later stages
see of them: every pattern expanded first (one that matches nothing fails the stage, unless
``optional``), each file put into the repository, a provenance record written, and each named
one published as ``${artifacts.NAME.path|sha256|size}``.

``path`` is a per-run hard link (a copy across file systems) of the stored, verified bytes with
the file's own name, so a deploy gets exactly what was kept even if a later stage rebuilt it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdtui.artifacts.records import ArtifactRecords, Provenance
from cdtui.artifacts.repository import ArtifactRepository
from cdtui.config.artifacts import ArtifactEntry
from cdtui.store.artifacts import ArtifactError, StoredFile, expand_one


@dataclass(frozen=True)
class Kept:
    name: str  # '' for an unnamed pattern
    stored: StoredFile
    path: Path  # the run's verified copy with the file's own name


@dataclass(frozen=True)
class Where:
    run_id: int
    phase: str
    stage: str
    attempt: int


def matched(entries: list[ArtifactEntry], cwd: Path, project_dir: Path) -> list[tuple[str, Path]]:
    """(name, file) for every entry; a named one must match exactly one file."""
    found: list[tuple[str, Path]] = []
    for entry in entries:
        files = expand_one(entry.path, cwd, project_dir, entry.optional)
        if entry.name and len(files) > 1:
            shown = ", ".join(os.path.relpath(f, project_dir) for f in files[:4])
            raise ArtifactError(
                f"artifacts: {entry.name} ({entry.path}) matched {len(files)} files ({shown}): a "
                "named artifact is one file; narrow the pattern or leave it unnamed"
            )
        found += [(entry.name or "", file) for file in files]
    return found


def keep(
    entries: list[ArtifactEntry],
    cwd: Path,
    project_dir: Path,
    repository: ArtifactRepository,
    where: Where,
    commit: str,
    home: Path | None = None,
) -> list[Kept]:
    """Expand all, then store all, then record all: a stage missing one artifact stores none.

    ``project_dir`` is where the files are (a clean checkout's directory); ``home`` the project
    whose records these are (the checkout is removed after the stage)."""
    files = matched(entries, cwd, project_dir)
    kept: list[Kept] = []
    for name, file in files:
        stored = repository.put(file, project_dir)
        path = materialise(repository, where.run_id, name or "_", stored, Path(stored.path).name)
        kept.append(Kept(name, stored, path))
    with ArtifactRecords(home or project_dir) as records:
        for item in kept:
            s = item.stored
            records.add(
                Provenance(
                    where.run_id, where.phase, where.stage, where.attempt, item.name, s.path,
                    s.sha256, s.size, commit, repository.location, time.time(),
                )
            )  # fmt: skip
    return kept


def materialise(
    repository: ArtifactRepository, run_id: int, name: str, stored: StoredFile, filename: str
) -> Path:
    """STATE/artifacts/runs/RUN/NAME/FILENAME holding the stored bytes (fetched and verified)."""
    source = repository.fetch(stored.sha256)
    folder = repository.state_dir / "artifacts" / "runs" / str(run_id) / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    temp = folder / f".{filename}.{os.getpid()}"
    temp.unlink(missing_ok=True)
    try:
        os.link(source, temp)
    except OSError:
        shutil.copyfile(source, temp)
    try:
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return target


def value_of(kept: Kept) -> dict[str, Any]:
    """What ``${artifacts.NAME…}`` reads; ``dir`` holds every copy of NAME this run kept (each
    leg of a matrix its own file): what a fan-in stage (coverage combine) reads."""
    s = kept.stored
    return {
        "path": str(kept.path),
        "dir": str(kept.path.parent),
        "sha256": s.sha256,
        "size": s.size,
        "file": s.path,
    }
