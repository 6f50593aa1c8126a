"""The pipeline file as typed models. Unknown keys are errors; the loader adds a did-you-mean."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticKnownError
from pydantic_core import ValidationError as CoreValidationError

from cdtui.config.artifacts import (
    ArtifactEntry,
    ArtifactStore,
    check_unique_names,
    normalise_stage_artifacts,
)
from cdtui.config.base import Model
from cdtui.config.durations import Duration
from cdtui.config.monitor import MonitorSpec
from cdtui.config.notify import NotifyList
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


class Checkout(Model):
    """``checkout: clean``: the stage runs in a fresh checkout of HEAD (``keep``: left on disk
    afterwards, for a look)."""

    clean: bool = True
    keep: bool = False
    submodules: bool = True
    # Outside a git repository: fail the stage, or run in the project itself (with a warning),
    # for a pipeline that is also run from a copy (the sample, a tarball).
    outside_git: Literal["fail", "here"] = "fail"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if value == "clean":
            return {}
        if value == "keep":
            return {"keep": True}
        if isinstance(value, str):
            raise ValueError(f"expected clean or keep, got {value!r}")
        return value


class Resources(Model):
    """What a stage takes of the machine while it runs; stages wait until it is free."""

    cpu: int = Field(1, ge=1, le=256)


class Stage(Model):
    """A unit of work. Its kind is named by one key: ``run`` (a command, local or ``on:`` hosts)
    or a registered kind's key (``cdtui.stages``), whose value its own model validates."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    run: str | list[str] | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    needs: list[str] = Field(default_factory=list)
    # on_success: when every need succeeded; on_failure: only when one failed; always: either way
    when: Literal["on_success", "on_failure", "always", "manual"] = "on_success"
    if_: str | None = Field(None, alias="if")  # cdtui.config.conditions
    matrix: Any = None  # cdtui.config.matrix.MatrixSpec once validated
    checkout: Checkout | None = None
    resources: Resources = Field(default_factory=Resources)
    lock: list[str] = Field(default_factory=list)  # named locks held while it runs
    continue_on_error: bool = False
    artifacts: list[ArtifactEntry] = Field(default_factory=list)  # config/artifacts.py
    grace: Duration | None = None
    keep_children: bool = False
    on: list[str] = Field(default_factory=list)  # host names or tag:NAME; empty = local
    strategy: Strategy = Field(default_factory=Strategy)
    upload: list[str] = Field(default_factory=list)  # artifact names or project globs
    watch: Literal["restart", "queue"] = "restart"  # cdtui watch: a change cancels it, or waits
    # Named artifacts of an earlier run (its id) or an environment's promoted run (its name).
    from_: int | str | None = Field(None, alias="from")

    _kind: str = PrivateAttr("run")
    _spec: Any = PrivateAttr(None)
    _matrix_values: dict[str, str] = PrivateAttr(default_factory=dict)  # a leg's own values
    _matrix_of: str = PrivateAttr("")  # a leg: the stage it was expanded from

    @model_validator(mode="wrap")
    @classmethod
    def _kind_key(cls, data: Any, handler: Any, info: ValidationInfo) -> Stage:
        """Pull a registered kind's key out before the common fields are validated, and report
        both sets of errors together, each at its own path."""
        if not isinstance(data, dict):
            return handler(data)
        from cdtui.config.kinds import yaml_kinds

        kinds = yaml_kinds()
        data = dict(data)
        found = {key: data.pop(key) for key in list(data) if key in kinds and key != "run"}
        errors: list[InitErrorDetails] = []
        specs: dict[str, Any] = {}
        for key, value in found.items():
            model = kinds[key].model
            if model is None:
                specs[key] = value
                continue
            try:
                specs[key] = model.model_validate(value, context=info.context)
            except ValidationError as exc:
                errors += [_nested(key, e) for e in exc.errors()]
        stage = None
        try:
            stage = handler(data)
        except ValidationError as exc:
            errors = [_nested(None, e) for e in exc.errors()] + errors
        chosen = (["run"] if data.get("run") is not None else []) + list(found)
        if len(chosen) > 1:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "value_error",
                        "a stage has one kind: {kinds} are all given (split it into stages)",
                        {"kinds": " and ".join(repr(k) for k in chosen)},
                    ),
                    loc=(chosen[1],),
                    input=data,
                )
            )
        elif not chosen and "run" in data:
            pass  # run: null is reported by the run field itself
        elif not chosen:
            errors.append(InitErrorDetails(type="missing", loc=("run",), input=data))
        if errors:
            raise CoreValidationError.from_exception_data(cls.__name__, errors)
        assert stage is not None
        if found:
            (key, spec), *_ = specs.items()
            stage._kind, stage._spec = key, spec
        return stage

    @classmethod
    def of_kind(cls, name: str, kind: str, spec: Any, **fields: Any) -> Stage:
        """A stage cdtui makes itself (a phase's release block becomes its stage ``release``)."""
        stage = cls.model_construct(name=name, **fields)
        stage._kind, stage._spec = kind, spec
        return stage

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def spec(self) -> Any:
        """The kind's validated config (None for ``run``, whose fields are the stage's own)."""
        return self._spec

    @field_validator("when", mode="before")
    @classmethod
    def _when_auto(cls, value: object) -> object:
        return "on_success" if value == "auto" else value

    @field_validator("lock", mode="before")
    @classmethod
    def _lock_shorthand(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("if_")
    @classmethod
    def _condition_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from cdtui.config.conditions import ConditionError, parse_cached

            try:
                parse_cached(value)
            except ConditionError as error:
                raise ValueError(f"{error}: {value}") from None
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix_parses(cls, value: Any) -> Any:
        if value is None:
            return None
        from cdtui.config.matrix import MatrixError, MatrixSpec, parse_spec

        if isinstance(value, MatrixSpec):
            return value
        try:
            return parse_spec(value)
        except MatrixError as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="after")
    def _condition_reads_own_axes(self) -> Stage:
        condition = self.condition
        if condition is None:
            return self
        spec = self.matrix
        axes = set(spec.axes) | {k for e in spec.include for k in e} if spec else set()
        dynamic = spec is not None and spec.dynamic
        unknown = [n for n in condition.matrix_names if n not in axes and not dynamic]
        if unknown:
            known = ", ".join(sorted(axes)) or "none: the stage has no matrix"
            raise ValueError(f"if: matrix.{unknown[0]} is not an axis of this stage ({known})")
        return self

    @property
    def condition(self) -> Any:
        """The parsed ``if:`` (a ``Condition``), or None."""
        if self.if_ is None:
            return None
        from cdtui.config.conditions import parse_cached

        return parse_cached(self.if_)

    @property
    def matrix_values(self) -> dict[str, str]:
        """A matrix leg's values (``${matrix.AXIS}``); empty for any other stage."""
        return self._matrix_values

    @property
    def matrix_of(self) -> str:
        """The stage a leg was expanded from ('' for a stage that is not a leg)."""
        return self._matrix_of

    @field_validator("artifacts", mode="before")
    @classmethod
    def _artifacts_forms(cls, value: object) -> object:
        return normalise_stage_artifacts(value)

    @field_validator("artifacts")
    @classmethod
    def _artifact_names(cls, value: list[ArtifactEntry]) -> list[ArtifactEntry]:
        return check_unique_names(value)

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
    def _run_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            raise ValueError("the command is empty")
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
        if self._kind != "run":
            from cdtui.config.kinds import kind_configs

            return kind_configs()[self._kind].describe(self._spec)
        return shown_command(self.run or [])


def shown_command(command: str | list[str]) -> str:
    """A command as an operator reads it: a string as written, an argv list shell-joined."""
    if isinstance(command, str):
        return command.strip()
    import shlex

    return shlex.join(command)


class Phase(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    gate: Literal["confirm"] | None = None
    stages: list[Stage] = Field(default_factory=list)
    release: ReleaseSpec | None = None  # blue/green: router, colours, steps, health
    # Checks and alerts that `cdtui monitor` runs; a phase with only this has no stages: a
    # pipeline run passes it at once (the watching is `cdtui monitor`'s, not a run's).
    monitor: MonitorSpec | None = None
    checkout: Checkout | None = None  # every stage's, unless the stage says its own

    @model_validator(mode="after")
    def _matrix_legs(self) -> Phase:
        """A stage with a fixed matrix becomes its legs, in its place; needs follow them."""
        if any(s.matrix is not None and not s.matrix.dynamic for s in self.stages):
            from cdtui.config.matrix import expand_stages

            object.__setattr__(self, "stages", expand_stages(self.stages))
        return self

    @model_validator(mode="after")
    def _has_work(self) -> Phase:
        if not self.stages and self.release is None and self.monitor is None:
            raise ValueError("a phase needs stages (or a release or monitor block)")
        if self.release is not None and self.stages:
            if any(stage.kind != "release" for stage in self.stages):
                raise ValueError(
                    "a phase with a release block has no stages of its own: move them to a phase "
                    "before it (the release deploys with green.deploy / blue.deploy)"
                )
        elif self.release is not None:
            # The release runs as the phase's one stage: the tree, history, logs, --dry-run and
            # the headless summary all see it like any other stage.
            stage = Stage.of_kind("release", "release", self.release)
            object.__setattr__(self, "stages", [stage])
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


class WatchSettings(Model):
    """``watch:``: how ``cdtui watch`` and the console's W follow file changes."""

    debounce: Duration = 0.1  # the quiet period a burst of saves must end with
    ignore: list[str] = Field(default_factory=list)  # gitignore-style, beside .gitignore's
    phase: str | None = None  # default: Commit (or the first phase)
    poll: bool = False  # poll instead of inotify (network file systems)


class Pipeline(Model):
    project: str = Field(pattern=NAME_PATTERN, max_length=100)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict)
    grace: Duration = 10.0
    notify: NotifyList = Field(default_factory=list)  # sinks: cdtui.config.notify
    watch: WatchSettings = Field(default_factory=WatchSettings)
    artifacts: ArtifactStore = Field(default_factory=ArtifactStore)  # local or s3://
    monitor: MonitorSpec | None = None  # cdtui.config.monitor (phases may hold their own)
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _monitor_names(self) -> Pipeline:
        """What a monitor block names (checks, stages, a release) exists: located errors."""
        from cdtui.config.monitor import located, problems

        found = problems(self)
        if found:
            raise located(found, "Pipeline")
        return self

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


def _nested(key: str | None, error: Any) -> InitErrorDetails:
    """A pydantic error raised again from the Stage level, its path under the kind's key."""
    loc = (key, *error["loc"]) if key else tuple(error["loc"])
    kind, ctx = error["type"], error.get("ctx")
    if kind != "value_error":
        try:  # a built-in error type keeps its type and context (bounds, patterns, ...)
            PydanticKnownError(kind, ctx)
        except (KeyError, TypeError, ValueError):
            pass
        else:
            details = InitErrorDetails(type=kind, loc=loc, input=error.get("input"))
            if ctx is not None:
                details["ctx"] = ctx
            return details
    message = str(error["msg"]).removeprefix("Value error, ")
    custom = PydanticCustomError(kind, "{msg}", {"msg": message})
    return InitErrorDetails(type=custom, loc=loc, input=error.get("input"))


def _check_env_names(value: dict[str, object]) -> None:
    import re

    for key in value:
        if not re.match(ENV_NAME_PATTERN, key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
