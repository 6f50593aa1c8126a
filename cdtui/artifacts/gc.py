"""``cdtui artifacts gc``: remove stored bytes that nothing may deploy any more.

Kept: what the last N runs that kept artifacts stored, what every environment's current and
previous promotion names, and what each release colour runs now and ran before. Everything else
the repository holds is removed (S3 and the local store); ``dry_run`` only says what would go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cdtui.artifacts.records import ArtifactRecords, released_digests
from cdtui.artifacts.repository import ArtifactRepository


@dataclass
class GcPlan:
    keep_runs: list[int]
    kept: dict[str, str] = field(default_factory=dict)  # sha256 -> why it stays
    remove: list[str] = field(default_factory=list)
    stale_incoming: list[str] = field(default_factory=list)  # S3 keys a killed put left


def plan(project_dir: Path, repository: ArtifactRepository, keep: int) -> GcPlan:
    with ArtifactRecords(project_dir) as records:
        runs = records.runs()[:keep]
        result = GcPlan(runs)
        for digest in records.digests_of_runs(runs):
            result.kept.setdefault(digest, f"one of the last {keep} runs")
        for env, promotion in records.environments().items():
            for run, which in ((promotion.run_id, "current"), (promotion.previous, "previous")):
                if run is None:
                    continue
                for digest in records.digests_of_runs([run]):
                    result.kept.setdefault(digest, f"{env}'s {which} promotion (run #{run})")
        for digest in released_digests(records):
            result.kept.setdefault(digest, "a release colour's current or previous deployment")
    held = repository.digests() | repository.local_digests()
    result.remove = sorted(held - set(result.kept))
    stale = getattr(repository, "stale_incoming", None)
    result.stale_incoming = stale() if stale else []
    return result


def collect(project_dir: Path, repository: ArtifactRepository, gc: GcPlan) -> None:
    """Remove what ``gc`` lists, one removal row each."""
    with ArtifactRecords(project_dir) as records:
        for digest in gc.remove:
            repository.remove(digest)
            records.removed(digest, repository.location)
    for key in gc.stale_incoming:
        repository.remove_key(key)  # type: ignore[attr-defined]
