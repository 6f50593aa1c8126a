"""A phase's ``release:`` block: which router shifts traffic, the two colours, steps and health.

Only the shape and the cross-field rules live here; the rollout and the routers read these models.
"""

from __future__ import annotations

import itertools
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration

RouterKind = Literal["embedded", "haproxy", "alb"]
Strategy = Literal["all-at-once", "canary", "linear"]

DEFAULT_LISTEN = "127.0.0.1:8080"
STRATEGY_STEPS: dict[str, tuple[int, ...]] = {
    "all-at-once": (100,),
    "canary": (10, 100),
    "linear": (10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
}
"""The steps each named strategy takes when ``steps:`` is not written."""

_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")
_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "embedded": ("listen", "sticky"),
    "haproxy": ("socket", "backend", "blue_server", "green_server"),
    "alb": (
        "listener_arn",
        "blue_target_group_arn",
        "green_target_group_arn",
        "region",
        "endpoint_url",
        "sticky",
    ),
}
_REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "embedded": (),
    "haproxy": ("socket", "backend"),
    "alb": ("listener_arn", "blue_target_group_arn", "green_target_group_arn"),
}


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` or ``[::1]:8080`` -> (host, port); ValueError says what is expected."""
    match = _LISTEN.match(value.strip())
    port = int(match.group("port")) if match else 0
    if not match or not 1 <= port <= 65535:
        raise ValueError(f"expected HOST:PORT such as {DEFAULT_LISTEN}, got {value!r}")
    return match.group("host").strip("[]"), port


class RouterSpec(Model):
    """Where the weights live. Fields belong to one kind each; the others are rejected."""

    kind: RouterKind = "embedded"
    listen: str = DEFAULT_LISTEN
    sticky: bool = False
    socket: str | None = None
    backend: str | None = None
    blue_server: str = "blue"
    green_server: str = "green"
    listener_arn: str | None = None
    blue_target_group_arn: str | None = None
    green_target_group_arn: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @field_validator("socket", "backend", "blue_server", "green_server", "listener_arn")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _fields_match_kind(self) -> RouterSpec:
        own = _FIELDS_BY_KIND[self.kind]
        for kind, names in _FIELDS_BY_KIND.items():
            for name in names:
                if name in self.model_fields_set and name not in own:
                    hint = (
                        " (configure cookie persistence in haproxy.cfg)" if name == "sticky" else ""
                    )
                    raise ValueError(f"{name} applies to kind: {kind}, not {self.kind}{hint}")
        missing = [n for n in _REQUIRED_BY_KIND[self.kind] if getattr(self, n) is None]
        if missing:
            raise ValueError(f"kind: {self.kind} needs {', '.join(missing)}")
        if self.kind == "haproxy" and self.blue_server == self.green_server:
            raise ValueError("blue_server and green_server must name different servers")
        if self.kind == "alb" and self.blue_target_group_arn == self.green_target_group_arn:
            raise ValueError("blue and green must be different target groups")
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


class ColourSpec(Model):
    """One colour: where it answers, and optionally how to deploy it."""

    url: str
    deploy: str | list[str] | None = None
    deploy_timeout: Duration = 600.0  # the deploy's whole process tree is ended past this
    # A deploy starts the service it deploys: by default what it leaves running is its job.
    keep_children: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        try:
            _ = parts.port  # raises on a port out of range
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        if parts.query or parts.fragment:
            raise ValueError("the URL is a base: leave out ?query and #fragment")
        return value.strip().rstrip("/")

    @field_validator("deploy")
    @classmethod
    def _deploy(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the command is empty")
        if isinstance(value, list) and not value:
            raise ValueError("the argv list is empty")
        return value


class HealthSpec(Model):
    """What healthy means for a colour, checked before and during each step."""

    path: str = "/health"
    interval: Duration = 1.0
    timeout: Duration = 2.0
    expect_status: int = Field(200, ge=100, le=599)
    body_contains: str | None = None
    max_error_rate: float = Field(0.01, ge=0.0, le=1.0)
    max_p95_ms: float | None = Field(None, gt=0)
    consecutive_failures: int = Field(3, ge=1, le=1000)
    preflight: int = Field(3, ge=0, le=1000)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path starting with /, got {value!r}")
        return value

    @field_validator("interval", "timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value


class ReleaseSpec(Model):
    """A blue/green release: shift traffic from blue to green in steps, watching health."""

    router: RouterSpec = Field(default_factory=RouterSpec)
    blue: ColourSpec
    green: ColourSpec
    strategy: Strategy | None = None
    steps: list[int] | None = None
    hold: Duration = 5.0
    health: HealthSpec = Field(default_factory=HealthSpec)
    keep_warm: Duration = 600.0

    def describe(self) -> str:
        """The release stage's command line, as the tree, history and --dry-run show it."""
        steps = ",".join(map(str, self.effective_steps))
        return f"blue/green release via the {self.router.kind} router, steps {steps}%"

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one step, ending at 100")
        for step in value:
            if not 1 <= step <= 100:
                raise ValueError(
                    f"a step is the new colour's % of traffic, from 1 to 100, got {step}"
                )
        for before, after in itertools.pairwise(value):
            if after <= before:
                raise ValueError(f"steps must increase: {after} follows {before}")
        if value[-1] != 100:
            raise ValueError(f"the last step must be 100 (all traffic on green), got {value[-1]}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReleaseSpec:
        if self.blue.url == self.green.url:
            raise ValueError("blue and green have the same url: they must be two deployments")
        if self.router.kind == "embedded":
            for colour, spec in (("blue", self.blue), ("green", self.green)):
                if not spec.url.startswith("http://"):
                    raise ValueError(
                        f"{colour}.url: the embedded router forwards plain HTTP only, "
                        f"got {spec.url!r}"
                    )
        if self.steps is not None and self.strategy is not None:
            _check_strategy_steps(self.strategy, self.steps)
        return self

    @property
    def effective_steps(self) -> tuple[int, ...]:
        """The new colour's % of traffic, in order: ``steps``, else the strategy's, else 100."""
        if self.steps is not None:
            return tuple(self.steps)
        return STRATEGY_STEPS[self.strategy or "all-at-once"]


def _check_strategy_steps(strategy: str, steps: list[int]) -> None:
    if strategy == "all-at-once" and steps != [100]:
        raise ValueError("strategy all-at-once takes steps [100]; remove steps or the strategy")
    if strategy == "canary" and len(steps) != 2:
        raise ValueError(
            "strategy canary takes two steps, the canary share then 100: e.g. [10, 100]"
        )
    if strategy == "linear":
        gaps = {after - before for before, after in itertools.pairwise([0, *steps])}
        if len(gaps) != 1:
            raise ValueError("strategy linear takes equal steps, e.g. [25, 50, 75, 100]")
