"""The bytes a release deploys: the newest stored artifact (the one ``tested_bytes`` judged),
fetched through the pipeline's repository (the local store, or S3 into it) and verified."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.artifacts.backends import open_repository
from cdtui.store.paths import state_dir

if TYPE_CHECKING:
    from cdtui.config.models import Pipeline


def release_artifact(
    project_dir: Path, pipeline: Pipeline | None
) -> tuple[str, str, int, Path] | None:
    """(path, sha256, run, verified local copy), None when nothing was stored yet.

    ArtifactError names the digests when the repository's bytes are not what was stored."""
    from cdtui.release.deployments import release_artifact as newest_record

    found = newest_record(project_dir, verify=False)
    if found is None:
        return None
    path, digest, run_id, _ = found
    repository = open_repository(pipeline.artifacts if pipeline else None, state_dir(project_dir))
    return path, digest, run_id, repository.fetch(digest)
