"""The S3 artifact repository: objects keyed ``PREFIX/sha256/<hex>``, the local store in front.

A put uploads to a temporary key (multipart past ``MULTIPART_THRESHOLD``, S3 checking each part's
SHA-256) and copies it to its final key only once complete, so a killed upload never leaves an
object under a digest it does not hold; the temporary key is deleted after, and gc sweeps the ones
a killed put left. A fetch streams the object into the local store hashing it and refuses it on
a mismatch. Credentials are boto3's own chain (environment, profile, role): never read or shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.artifacts.repository import ArtifactRepository
from cdtui.infra.aws import boto_errors, why
from cdtui.store.artifacts import ArtifactError

if TYPE_CHECKING:
    from cdtui.config.artifacts import ArtifactStore

MULTIPART_THRESHOLD = 16 << 20
MULTIPART_CHUNK = 16 << 20
READ_CHUNK = 1 << 20
STALE_INCOMING_S = 3600.0  # gc removes temporary keys a killed put left after this long


class S3Repository(ArtifactRepository):
    def __init__(self, store: ArtifactStore, state_dir: Path, client: Any = None) -> None:
        super().__init__(state_dir)
        self.bucket = store.bucket
        self.prefix = f"{store.prefix}/" if store.prefix else ""
        self.location = f"s3://{self.bucket}/{store.prefix}".rstrip("/")
        self._store = store
        self._client = client

    # -- boto3 -------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            try:
                session = boto3.session.Session(
                    profile_name=self._store.profile, region_name=self._store.region
                )
                self._client = session.client("s3", endpoint_url=self._store.endpoint_url)
            except self._errors() as error:  # an unknown profile
                raise self._fail("cannot reach", error) from error
        return self._client

    def _transfer(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK
        )

    def key(self, sha256: str) -> str:
        return f"{self.prefix}sha256/{sha256}"

    def _fail(self, what: str, error: BaseException) -> ArtifactError:
        """An operator's message for a boto3 error: the cause and what to check, no secret."""
        return ArtifactError(f"artifacts: {what} {self.location}: {why(error, 'artifacts.region')}")

    def _errors(self) -> tuple[type[BaseException], ...]:
        return boto_errors()

    # -- the interface -----------------------------------------------------------------------
    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("cannot look in", error) from error
        except self._errors() as error:
            raise self._fail("cannot look in", error) from error
        return True

    def push(self, sha256: str, size: int) -> None:
        if self.exists(sha256):
            return  # content-addressed: the same key holds the same bytes
        temp = f"{self.prefix}incoming/{sha256}.{uuid.uuid4().hex}"
        source = self.cached(sha256)
        extra = {"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": sha256}}
        try:
            self.client.upload_file(
                str(source), self.bucket, temp, ExtraArgs=extra, Config=self._transfer()
            )
            try:
                self.client.copy(
                    {"Bucket": self.bucket, "Key": temp},
                    self.bucket,
                    self.key(sha256),
                    ExtraArgs={"ChecksumAlgorithm": "SHA256", "MetadataDirective": "COPY"},
                    Config=self._transfer(),
                )
            finally:
                with contextlib.suppress(*self._errors()):
                    self.client.delete_object(Bucket=self.bucket, Key=temp)
        except self._errors() as error:
            raise self._fail(f"cannot upload sha256:{sha256[:12]} to", error) from error

    def fetch(self, sha256: str) -> Path:
        try:
            cached = self._verified_cache(sha256)
        except ArtifactError:
            cached = None  # a corrupt local copy: the repository's is fetched again
        if cached is not None:
            return cached
        target = self.cached(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        where = f"s3://{self.bucket}/{self.key(sha256)}"
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".fetching-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                try:
                    body = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
                    for chunk in body.iter_chunks(READ_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                except self._errors() as error:
                    raise self._fail(f"cannot fetch sha256:{sha256[:12]} from", error) from error
            actual = digest.hexdigest()
            if actual != sha256:
                raise ArtifactError(f"{where}: digest mismatch: expected {sha256} got {actual}")
            os.chmod(temp, 0o444)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def digests(self) -> set[str]:
        return {key.rsplit("/", 1)[-1] for key, _ in self._keys(f"{self.prefix}sha256/")}

    def remove(self, sha256: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except self._errors() as error:
            raise self._fail(f"cannot remove sha256:{sha256[:12]} from", error) from error
        super().remove_cached(sha256)

    def stale_incoming(self) -> list[str]:
        """Temporary keys older than STALE_INCOMING_S: what a killed put left behind."""
        cutoff = time.time() - STALE_INCOMING_S
        return [k for k, at in self._keys(f"{self.prefix}incoming/") if at < cutoff]

    def remove_key(self, key: str) -> None:
        with contextlib.suppress(*self._errors()):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def _keys(self, prefix: str) -> list[tuple[str, float]]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            return [
                (item["Key"], item["LastModified"].timestamp())
                for page in pages
                for item in page.get("Contents", [])
            ]
        except self._errors() as error:
            raise self._fail("cannot list", error) from error
