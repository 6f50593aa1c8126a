"""A stage's ``from: RUN``, ``from: ENV`` or ``from: latest``: the named artifacts of an earlier run
(by id, the run an environment was promoted to, or the newest run that kept named artifacts,
which is this run once one of its stages has), seen as ``${artifacts.NAME…}`` instead of this
run's.

Nothing is fetched until a reference is read: then the bytes come through the repository (the
local store, or S3 into it), verified, and are linked under this run with their own name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cdtui.artifacts.records import ArtifactRecords, Provenance
from cdtui.artifacts.repository import ArtifactRepository
from cdtui.engine.interpolate import InterpolationError
from cdtui.store.artifacts import ArtifactError, StoredFile

LATEST = "latest"  # from: latest: the newest run that kept named artifacts (this one, if it has)


class SourceError(InterpolationError):
    """``from:`` names no run with artifacts, or their bytes cannot be had verified."""


def resolve_run(records: ArtifactRecords, ref: int | str) -> tuple[int, str]:
    """(run id, how it was found) for ``from:``; SourceError says what exists instead."""
    if isinstance(ref, int) or str(ref).isdigit():
        return int(ref), f"run #{int(ref)}"
    if ref == LATEST:
        newest = records.latest_named_run()
        if newest is None:
            raise SourceError(
                "from: latest: no run kept a named artifact yet; run the stage that makes it "
                "(artifacts: {NAME: PATTERN}) first"
            )
        return newest, f"run #{newest} (the latest to keep named artifacts)"
    promoted = records.current(str(ref))
    if promoted is None:
        known = ", ".join(records.environments()) or "none yet"
        raise SourceError(
            f"from: {ref}: nothing was promoted to {ref!r} (environments: {known}); "
            f"`cdtui promote RUN {ref}` names the run it deploys"
        )
    return promoted.run_id, f"run #{promoted.run_id} (promoted to {ref})"


class _Lazy(Mapping[str, Any]):
    """One named artifact of the earlier run; ``path`` fetches and verifies on first read."""

    def __init__(self, record: Provenance, repository: ArtifactRepository, run_id: int) -> None:
        self.record, self.repository, self.run_id = record, repository, run_id
        self._path: str | None = None

    def __iter__(self) -> Iterator[str]:
        return iter(("path", "sha256", "size", "file", "run"))

    def __len__(self) -> int:
        return 5

    def __getitem__(self, key: str) -> Any:
        r = self.record
        if key == "path":
            return self.path()
        return {"sha256": r.sha256, "size": r.size, "file": r.path, "run": r.run_id}[key]

    def path(self) -> str:
        if self._path is None:
            from cdtui.artifacts.keep import materialise

            stored = StoredFile(self.record.path, self.record.sha256, self.record.size)
            try:
                found = materialise(
                    self.repository, self.run_id, self.record.name, stored, Path(stored.path).name
                )
            except (ArtifactError, OSError) as error:
                raise SourceError(
                    f"artifact {self.record.name} of run #{self.record.run_id}: {error}"
                ) from error
            self._path = str(found)
        return self._path


class _Unresolved(dict):
    """Every read of a name the stage did not keep itself says why ``from:`` found nothing."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise SourceError(self.why)


def artifacts_from(
    project_dir: Path, ref: int | str, repository: ArtifactRepository, run_id: int
) -> Mapping[str, Any]:
    """The ``artifacts`` namespace a stage with ``from: ref`` sees."""
    try:
        with ArtifactRecords(project_dir) as records:
            source, how = resolve_run(records, ref)
            named = [r for r in records.of_run(source) if r.name]
    except SourceError as error:
        return _Unresolved(str(error))
    if not named:
        return _Unresolved(f"from: {ref}: {how} kept no named artifact")
    return {r.name: _Lazy(r, repository, run_id) for r in named}
