"""A stage's ``load:`` block: what to request (a URL or weighted scenarios), how (an open model
at ``rate`` with optional ramp ``stages``, or a closed model of ``vus``), for how long, and the
thresholds in k6's words that judge it. Only the shape lives here; ``cdtui.load`` runs it."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import UNITS_REQUIRED, Duration, format_setting
from cdtui.load.expressions import Expression, parse_expression, parse_percent, parse_rate


def _rate(value: object, info: ValidationInfo) -> float:
    if (
        info.context
        and info.context.get(UNITS_REQUIRED)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        raise ValueError(f"the rate {value:g} has no unit: write {value:g}/s (or /m)")
    return parse_rate(value)


Rate = Annotated[float, BeforeValidator(_rate)]
Percent = Annotated[float, BeforeValidator(parse_percent)]


def _expression(metric: str) -> Any:
    def parse(value: object) -> Check:
        if isinstance(value, Check):
            return value
        if isinstance(value, dict):
            data = dict(value)
            data["threshold"] = parse_expression(metric, data.get("threshold"))
            return Check.model_validate(data)
        return Check(threshold=parse_expression(metric, value))

    return Annotated[Any, BeforeValidator(parse)]


class Check(Model):
    """One threshold; ``abort_on_fail`` stops the load once it fails, after ``delay``."""

    threshold: Any  # an Expression, parsed by the metric's list
    abort_on_fail: bool = False
    delay: Duration | None = None

    @property
    def expression(self) -> Expression:
        return self.threshold


class Thresholds(Model):
    """k6's metric names: durations in ms, failures as a rate 0..1, requests a second."""

    http_req_duration: list[_expression("http_req_duration")] = Field(default_factory=list)
    http_req_failed: list[_expression("http_req_failed")] = Field(default_factory=list)
    http_reqs: list[_expression("http_reqs")] = Field(default_factory=list)

    def checks(self) -> list[Check]:
        return [*self.http_req_duration, *self.http_req_failed, *self.http_reqs]


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        hint = " (https is not supported: point at the plain HTTP port)" if parts.scheme else ""
        raise ValueError(
            f"expected an http:// URL such as http://127.0.0.1:8080/, got {value!r}" + hint
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as error:
        raise ValueError(f"{value!r}: {error}") from None
    return value


class Request(Model):
    """What one request is: a URL, its method, headers and body."""

    url: str
    method: str = Field("GET", pattern=r"^[A-Z]+$")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class Scenario(Request):
    """A weighted request in the mix, with thresholds of its own (judged on its requests)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", max_length=60)
    weight: int = Field(1, ge=1, le=1000)
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @property
    def label(self) -> str:
        """How results name it: its name, else ``METHOD /path``."""
        return self.name or f"{self.method} {urlsplit(self.url).path or '/'}"


class RampStage(Model):
    """Moves the arrival rate linearly to ``target`` over ``duration`` (k6's ramping rate)."""

    duration: Duration
    target: Rate


class LoadSpec(Model):
    """The ``load:`` block (README, Load & Perf)."""

    url: str | None = None
    method: str = Field("GET", pattern=r"^[A-Z]+$")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    scenarios: list[Scenario] = Field(default_factory=list, max_length=100)
    rate: Rate | None = None
    stages: list[RampStage] = Field(default_factory=list, max_length=100)
    vus: int | None = Field(None, ge=1, le=10_000)
    duration: Duration | None = None
    timeout: Duration = 10.0
    connections: int = Field(256, ge=1, le=10_000)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    abort_on_fail: bool = False
    abort_delay: Duration = 0.0
    max_regression: Percent | None = None
    workers: int | Literal["auto"] = 1
    max_cpu: Percent = 80.0
    max_lag: Duration = 0.05
    summary: str | None = None
    junit: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("summary", "junit")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith(("/", "~")) or ".." in value.split("/")):
            raise ValueError(
                f"expected a path inside the project such as reports/load.xml, got {value!r}"
            )
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 64:
            raise ValueError("workers must be between 1 and 64, or auto (one per core)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> LoadSpec:
        if (self.url is None) == (not self.scenarios):
            raise ValueError("give url: (one request) or scenarios: (a weighted mix), one of them")
        if self.scenarios and (self.body is not None or self.headers or self.method != "GET"):
            raise ValueError("method, headers and body go with url:; each scenario has its own")
        open_model = self.rate is not None or bool(self.stages)
        if open_model == (self.vus is not None):
            raise ValueError(
                "give rate: (an open model, e.g. rate: 200/s) or vus: (a closed model), one of them"
            )
        if self.duration is None and not self.stages:
            raise ValueError("duration is missing: how long the load runs, e.g. duration: 30s")
        if self.stages and self.duration is not None:
            raise ValueError("with stages: the run lasts their durations; drop duration:")
        if self.total_duration <= 0:
            raise ValueError("the load must last more than 0s")
        names = [s.label for s in self.requests()]
        if len(set(names)) != len(names):
            raise ValueError("two scenarios share a name: give each a name: of its own")
        return self

    # -- read by the generator and the stage ----------------------------------------------
    @property
    def total_duration(self) -> float:
        if self.stages:
            return sum(s.duration for s in self.stages)
        return self.duration or 0.0

    def requests(self) -> list[Scenario]:
        if self.url is not None:
            return [
                Scenario(url=self.url, method=self.method, headers=self.headers, body=self.body)
            ]
        return list(self.scenarios)

    def describe(self) -> str:
        what = (
            f"{self.method} {self.url}"
            if self.url
            else f"{', '.join(s.label for s in self.scenarios)} on {_origins(self.scenarios)}"
        )
        if self.vus is not None:
            how = f"{self.vus} vus"
        elif self.stages:
            start = f"{self.rate:g}/s" if self.rate else "0/s"
            how = f"{start} ramping to {self.stages[-1].target:g}/s"
        else:
            how = f"{self.rate:g}/s"
        return f"load {what} at {how} for {format_setting(self.total_duration)}"


def _origins(scenarios: list[Scenario]) -> str:
    return ", ".join(dict.fromkeys(urlsplit(s.url).netloc for s in scenarios))
