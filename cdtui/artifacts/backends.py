"""Choosing the repository backend from the pipeline's ``artifacts: {store: ...}``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.artifacts.repository import ArtifactRepository, LocalRepository

if TYPE_CHECKING:
    from cdtui.config.artifacts import ArtifactStore


def open_repository(store: ArtifactStore | None, state_dir: Path) -> ArtifactRepository:
    """``local`` (the default) or ``s3://bucket/prefix``; boto3 loads only for s3."""
    if store is None or store.store == "local":
        return LocalRepository(state_dir)
    from cdtui.artifacts.s3 import S3Repository

    return S3Repository(store, state_dir)
