"""The ``monitor:`` block (top level or in a phase): checks, alert rules and their actions.

```yaml
monitor:
  interval: 2s
  checks:
    - {name: shop, http: "http://127.0.0.1:8100/health", expect: ["status == 200"]}
    - {name: db, tcp: "127.0.0.1:5432"}
  alerts:
    - {name: shop-down, check: shop, after: 3, resolve_after: 2, actions: [notify, rollback]}
    - {name: shop-slow, check: shop, p95_ms: 250, window: 1m, min_samples: 20, actions: [notify]}
```

Only the shape and the rules that need the whole pipeline (a check an alert names, the stages a
``run:`` action names) live here; ``cdtui.monitor`` runs it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration
from cdtui.config.release import parse_listen

NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.:&+-]*$"
RELEASE_CHECKS = ("router", "live", "idle")
"""Checks every monitor has when the pipeline has a release block: the router's public address
(embedded router), the live colour, and the idle one while ``keep_warm`` keeps it for rollback."""
ACTION_KINDS = ("notify", "rollback", "recover", "run")
DEFAULT_COOLDOWN = 300.0


class CheckSpec(Model):
    """One target, checked every ``interval``: ``http:`` URL, ``tcp:`` HOST:PORT or ``command:``."""

    name: str = Field(pattern=NAME, max_length=100)
    http: str | None = None
    tcp: str | None = None
    command: str | list[str] | None = None
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    timeout: Duration = 2.0
    interval: Duration | None = None  # default: the monitor's
    expect: list[str] = Field(default_factory=list)  # conditions; default per kind
    insecure: bool = False  # https: do not verify the certificate

    @property
    def kind(self) -> str:
        return "http" if self.http else "tcp" if self.tcp else "command"

    @property
    def target(self) -> str:
        """What it checks, as the operator reads it."""
        if self.command is not None and not isinstance(self.command, str):
            import shlex

            return shlex.join(self.command)
        return str(self.http or self.tcp or self.command)

    @property
    def conditions(self) -> list[Any]:
        from cdtui.monitor.conditions import DEFAULTS, parse

        return [parse(text, self.kind) for text in (self.expect or DEFAULTS[self.kind])]

    @field_validator("http")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value.strip()

    @field_validator("tcp")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and (not value or (isinstance(value, str) and not value.strip())):
            raise ValueError("the command is empty")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError(f"expected an HTTP method such as GET or HEAD, got {value!r}")
        return value.upper()

    @field_validator("timeout", "interval")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be more than 0s")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> CheckSpec:
        from cdtui.monitor.conditions import ConditionError, parse

        given = [k for k in ("http", "tcp", "command") if getattr(self, k) is not None]
        if not given:
            raise ValueError("a check needs one of http: URL, tcp: HOST:PORT or command: ...")
        if len(given) > 1:
            raise ValueError(f"a check has one kind: {' and '.join(given)} are both given")
        if self.kind != "http":
            for key in ("headers", "body"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key} applies to http checks, not {self.kind}")
        errors = []
        for index, text in enumerate(self.expect):
            try:
                parse(text, self.kind)
            except ConditionError as exc:
                errors.append((("expect", index), str(exc)))
        if errors:
            raise located(errors, "CheckSpec")
        return self


class ActionSpec(Model):
    """``notify``, ``rollback``, ``recover`` or ``{run: [STAGES or a PHASE]}``, each with a
    ``cooldown`` (default: the alert's) during which it is not taken again. ``{recover: {run:
    [provision]}}`` runs those stages first (a fresh environment, e.g. a CloudFormation stage)
    and deploys only when they succeeded."""

    kind: Literal["notify", "rollback", "recover", "run"]
    run: list[str] = Field(default_factory=list)
    cooldown: Duration | None = None
    phase: str | None = None  # the release phase for rollback / recover (default: the first)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": data}
        if isinstance(data, dict) and "kind" not in data:
            data = dict(data)
            if "run" in data:
                run = data["run"]
                return {**data, "kind": "run", "run": [run] if isinstance(run, str) else run}
            named = [k for k in data if k in ACTION_KINDS]
            if len(named) == 1:
                options = data.pop(named[0])
                extra = options if isinstance(options, dict) else {}
                return {**data, **extra, "kind": named[0]}
        return data

    @model_validator(mode="after")
    def _run_names(self) -> ActionSpec:
        if self.kind == "run" and not self.run:
            raise ValueError("run: names the stages (or a phase) to run, e.g. run: [recover]")
        if self.run and self.kind not in ("run", "recover"):
            raise ValueError(f"{self.kind} runs no stages: run: belongs to run and recover")
        return self

    @property
    def label(self) -> str:
        return f"run {', '.join(self.run)}" if self.kind == "run" else self.kind


class AlertSpec(Model):
    """When a check is in trouble: ``after`` failed checks in a row, or over ``window`` (with at
    least ``min_samples``) an error rate above ``error_rate`` or a p95 above ``p95_ms``; held
    ``for`` a while before firing; resolved after ``resolve_after`` good checks in a row."""

    name: str = Field(pattern=NAME, max_length=100)
    check: str
    after: int | None = Field(None, ge=1, le=10000)
    error_rate: float | None = Field(None, ge=0.0, lt=1.0)
    p95_ms: float | None = Field(None, gt=0)
    window: Duration = 60.0
    min_samples: int = Field(10, ge=1, le=100000)
    for_: Duration = Field(0.0, alias="for")
    repeat: Duration | None = None  # tell again while it fires, at most this often
    resolve_after: int = Field(2, ge=1, le=10000)
    cooldown: Duration = DEFAULT_COOLDOWN
    level: Literal["warning", "error"] = "error"
    logs: str | list[str] | None = None  # evidence: its output is stored with the alert
    actions: list[ActionSpec] = Field(default_factory=lambda: [ActionSpec(kind="notify")])

    @property
    def threshold(self) -> int:
        """Failed checks in a row that fire it (3 when no other criterion is written)."""
        if self.after is not None:
            return self.after
        return 0 if self.windowed else 3

    @property
    def windowed(self) -> bool:
        return self.error_rate is not None or self.p95_ms is not None

    @field_validator("window")
    @classmethod
    def _window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value


class MonitorSpec(Model):
    interval: Duration = 5.0
    checks: list[CheckSpec] = Field(default_factory=list)
    alerts: list[AlertSpec] = Field(default_factory=list)
    release_checks: bool = True  # router / live / idle when the pipeline has a release block
    logs: str | list[str] | None = None  # evidence for every alert without its own
    history: int = Field(60, ge=1, le=3600)  # results kept per check for views and evidence

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value


def located(found: list[tuple[tuple[str | int, ...], str]], title: str) -> Exception:
    """A ValidationError whose errors point at their own paths (not the model's)."""
    from pydantic_core import InitErrorDetails, PydanticCustomError
    from pydantic_core import ValidationError as CoreValidationError

    errors = [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "{msg}", {"msg": message}),
            loc=loc,
            input=None,
        )
        for loc, message in found
    ]
    return CoreValidationError.from_exception_data(title, errors)


def merged(pipeline: Any) -> MonitorSpec | None:
    """The pipeline's one monitor: the top-level block, then each phase's, checks and alerts in
    file order; None when there is no block at all."""
    blocks = [(("monitor",), pipeline.monitor)] if pipeline.monitor is not None else []
    blocks += [
        (("phases", i, "monitor"), p.monitor)
        for i, p in enumerate(pipeline.phases)
        if p.monitor is not None
    ]
    if not blocks:
        return None
    first = blocks[0][1]
    checks = [c for _, b in blocks for c in b.checks]
    alerts = [a for _, b in blocks for a in b.alerts]
    return first.model_copy(update={"checks": checks, "alerts": alerts})


def problems(pipeline: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) of each rule that needs the whole pipeline."""
    import difflib

    blocks = [(("monitor",), pipeline.monitor)] if pipeline.monitor is not None else []
    blocks += [
        (("phases", i, "monitor"), p.monitor)
        for i, p in enumerate(pipeline.phases)
        if p.monitor is not None
    ]
    releases = [p.name for p in pipeline.phases if p.release is not None]
    implicit = list(RELEASE_CHECKS) if releases and blocks and blocks[0][1].release_checks else []
    checks: dict[str, tuple[str | int, ...]] = {}
    found: list[tuple[tuple[str | int, ...], str]] = []
    for where, block in blocks:
        for index, check in enumerate(block.checks):
            path = (*where, "checks", index, "name")
            if check.name in checks or check.name in implicit:
                found.append((path, f"a second check named {check.name!r}: names are unique"))
            checks[check.name] = path
    known = list(checks) + implicit
    stages = {s.name for p in pipeline.phases for s in p.stages}
    phases = {p.name.lower() for p in pipeline.phases}
    alerts: set[str] = set()
    for where, block in blocks:
        for index, alert in enumerate(block.alerts):
            here = (*where, "alerts", index)
            if alert.name in alerts:
                found.append(((*here, "name"), f"a second alert named {alert.name!r}"))
            alerts.add(alert.name)
            if alert.check not in known:
                close = difflib.get_close_matches(alert.check, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                if alert.check in RELEASE_CHECKS and not releases:
                    hint = " (it is a release check: the pipeline has no release block)"
                names = ", ".join(known) or "none"
                found.append(
                    ((*here, "check"), f"no check named {alert.check!r}{hint}; checks: {names}")
                )
            for number, action in enumerate(alert.actions):
                at = (*here, "actions", number)
                if action.kind in ("rollback", "recover") and not releases:
                    found.append((at, f"{action.kind} needs a release block in the pipeline"))
                if action.phase is not None and action.phase not in releases:
                    found.append((at, f"phase {action.phase!r} has no release block"))
                for name in action.run:
                    target = name.split("/", 1)[-1]
                    if name.lower() not in phases and target not in stages:
                        close = difflib.get_close_matches(name, [*stages, *phases], n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        found.append((at, f"run: {name!r} names no stage or phase{hint}"))
    return found
