"""The pipeline file's artifact keys: the top-level ``artifacts:`` store, and a stage's
``artifacts:`` in its three forms (plain patterns, ``{name: pattern}``, a list of entries).

A named artifact is one file that later stages reach as ``${artifacts.NAME.path}`` /
``.sha256`` and ship with ``upload: [NAME]``; an unnamed pattern is kept as before.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from cdtui.config.base import Model

ARTIFACT_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"
S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


class ArtifactEntry(Model):
    """One pattern a stage keeps; ``name`` makes it referable, ``optional`` lets it be absent."""

    path: str = Field(min_length=1)
    name: str | None = Field(None, pattern=ARTIFACT_NAME, max_length=64)
    optional: bool = False

    def __str__(self) -> str:
        shown = f"{self.name}: {self.path}" if self.name else self.path
        return f"{shown} (optional)" if self.optional else shown


def normalise_stage_artifacts(value: Any) -> Any:
    """``{wheel: dist/*.whl}`` and ``["a.txt", {path: b, name: c}]`` both become entries."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        entries = []
        for name, spec in value.items():
            if isinstance(spec, dict):
                entries.append({"name": name, **spec})
            else:
                entries.append({"name": name, "path": spec})
        return entries
    if isinstance(value, list):
        return [{"path": item} if isinstance(item, str) else item for item in value]
    return value


def check_unique_names(entries: list[ArtifactEntry]) -> list[ArtifactEntry]:
    names = [e.name for e in entries if e.name]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"artifact name {twice[0]!r} is given twice in this stage")
    return entries


class ArtifactStore(Model):
    """Where named artifacts are kept beyond this machine: ``local`` or ``s3://bucket/prefix``.

    Credentials come the boto3 way (environment, profile, instance role), never from the file.
    """

    store: str = "local"
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if value == "local" or S3_URL.match(value):
            return value
        raise ValueError(
            f"store must be 'local' or s3://bucket/prefix, got {value!r} "
            "(a bucket name is 3-63 lowercase letters, digits, dots and hyphens)"
        )

    @model_validator(mode="after")
    def _s3_only_options(self) -> ArtifactStore:
        if self.store == "local":
            given = [k for k in ("region", "endpoint_url", "profile") if getattr(self, k)]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to an s3:// store")
        return self

    @property
    def bucket(self) -> str:
        match = S3_URL.match(self.store)
        return match["bucket"] if match else ""

    @property
    def prefix(self) -> str:
        match = S3_URL.match(self.store)
        return (match["prefix"] or "").strip("/") if match else ""
