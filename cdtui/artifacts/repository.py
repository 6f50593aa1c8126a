"""The artifact repository: one small interface, a backend per store (``local``, ``s3://``).

Every backend keeps a verified local copy by digest (``STATE/artifacts/sha256/<hex>``): that is
the whole of the local backend, and the cache in front of S3. A put hashes the bytes once while
copying them in; a fetch re-hashes what it hands out, so a corrupted copy is never shipped.
Blocking calls: the engine and the release run them in a thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from cdtui.store.artifacts import (
    ArtifactError,
    StoredFile,
    artifact_file,
    store_file,
    verify_stored,
)

__all__ = ["ArtifactError", "ArtifactRepository", "LocalRepository"]


class ArtifactRepository(ABC):
    """Bytes by sha256: put them, fetch them verified, list and remove them (gc)."""

    location: str  # what records say the bytes went to: local:DIR or s3://bucket/prefix

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def cached(self, sha256: str) -> Path:
        return artifact_file(self.state_dir, sha256)

    def put(self, source: Path, project_dir: Path) -> StoredFile:
        """Keep ``source`` (a project file) by content; its bytes are in the repository after."""
        stored = store_file(source, self.state_dir, project_dir)
        self.push(stored.sha256, stored.size)
        return stored

    @abstractmethod
    def push(self, sha256: str, size: int) -> None:
        """Make the verified local copy of ``sha256`` durable in the repository."""

    @abstractmethod
    def fetch(self, sha256: str) -> Path:
        """A local path holding exactly ``sha256``'s bytes (verified); ArtifactError if not."""

    @abstractmethod
    def digests(self) -> set[str]:
        """Every digest the repository holds (gc reads it)."""

    @abstractmethod
    def remove(self, sha256: str) -> None:
        """Delete the bytes from the repository and the local store."""

    def local_digests(self) -> set[str]:
        """What the local store (the cache, for a remote repository) holds."""
        folder = self.cached("x").parent
        if not folder.is_dir():
            return set()
        return {p.name for p in folder.iterdir() if len(p.name) == 64 and p.name[0] != "."}

    def remove_cached(self, sha256: str) -> None:
        self.cached(sha256).unlink(missing_ok=True)

    def _verified_cache(self, sha256: str) -> Path | None:
        path = self.cached(sha256)
        if not path.is_file():
            return None
        verify_stored(path, sha256)
        return path


class LocalRepository(ArtifactRepository):
    """The content-addressed directory under the state dir."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.location = f"local:{self.cached('x').parent}"

    def push(self, sha256: str, size: int) -> None:
        return None  # the local copy is the repository

    def fetch(self, sha256: str) -> Path:
        path = self._verified_cache(sha256)
        if path is None:
            raise ArtifactError(
                f"artifact sha256:{sha256} is not in the local store ({self.cached(sha256)}): "
                "it was removed by gc or built on another machine; run the stage that builds it"
            )
        return path

    def digests(self) -> set[str]:
        return self.local_digests()

    def remove(self, sha256: str) -> None:
        self.remove_cached(sha256)
