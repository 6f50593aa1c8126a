"""The pipeline file as typed models. Unknown keys are errors; the loader adds a did-you-mean."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration
from cdtui.config.release import ReleaseSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.&+-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MIN_SECRET_LENGTH = 8


class RetryPolicy(Model):
    """``retries: 2`` or ``retries: {count: 2, backoff: 1s, factor: 2, max_backoff: 60s}``."""

    count: int = Field(0, ge=0, le=100)
    backoff: Duration = 1.0
    factor: float = Field(2.0, ge=1.0, le=10.0)
    max_backoff: Duration = 60.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the given failed attempt (1-based) before the next one."""
        return min(self.backoff * self.factor ** (failed_attempt - 1), self.max_backoff)


class Strategy(Model):
    """How a stage fans out over its hosts: all at once (at most ``parallel``) or rolling
    ``batch``es; the stage fails once more than ``max_failures`` hosts failed."""

    parallel: int | None = Field(None, ge=1, le=1000)
    batch: int | None = Field(None, ge=1, le=1000)
    max_failures: int = Field(0, ge=0)


class Stage(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    run: str | list[str]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    needs: list[str] = Field(default_factory=list)
    when: Literal["auto", "manual", "always"] = "auto"  # always: runs even if its needs failed
    continue_on_error: bool = False
    artifacts: list[str] = Field(default_factory=list)
    grace: Duration | None = None
    keep_children: bool = False
    on: list[str] = Field(default_factory=list)  # host names or tag:NAME; empty = local
    strategy: Strategy = Field(default_factory=Strategy)
    upload: list[str] = Field(default_factory=list)  # project files (globs) copied before run

    @field_validator("on", mode="before")
    @classmethod
    def _on_shorthand(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("retries", mode="before")
    @classmethod
    def _retries_shorthand(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"count": value}
        return value

    @field_validator("run")
    @classmethod
    def _run_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the command is empty")
        if isinstance(value, list) and not value:
            raise ValueError("the argv list is empty")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_env_names(value)
        return value

    @property
    def command_text(self) -> str:
        """The command as an operator reads it."""
        if isinstance(self.run, str):
            return self.run.strip()
        import shlex

        return shlex.join(self.run)


class Phase(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    gate: Literal["confirm"] | None = None
    stages: list[Stage] = Field(default_factory=list)
    release: ReleaseSpec | None = None  # blue/green: router, colours, steps, health

    @model_validator(mode="after")
    def _has_work(self) -> Phase:
        if not self.stages and self.release is None:
            raise ValueError("a phase needs stages (or a release block)")
        return self


class SecretRef(Model):
    """Where a secret's value comes from: an environment variable (never the file itself)."""

    env: str = Field(pattern=ENV_NAME_PATTERN)
    optional: bool = False


class Host(Model):
    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    jump: str | None = None
    tags: list[str] = Field(default_factory=list)
    insecure_skip_host_key_check: bool = False


class Pipeline(Model):
    project: str = Field(pattern=NAME_PATTERN, max_length=100)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict)
    grace: Duration = 10.0
    phases: list[Phase] = Field(min_length=1)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_env_names(value)
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        _check_env_names(value)
        return value

    def resolve_hosts(self, targets: list[str]) -> list[str]:
        """Host names for ``on:`` entries (names or ``tag:NAME``), inventory order, no repeats."""
        chosen: list[str] = []
        for target in targets:
            if target.startswith("tag:"):
                tag = target[4:]
                chosen += [name for name, host in self.hosts.items() if tag in host.tags]
            elif target in self.hosts:
                chosen.append(target)
        return list(dict.fromkeys(chosen))

    def phase(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise KeyError(name)


def _check_env_names(value: dict[str, object]) -> None:
    import re

    for key in value:
        if not re.match(ENV_NAME_PATTERN, key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
