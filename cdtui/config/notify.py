"""The ``notify:`` list of the pipeline file: one entry per sink, each with its filters.

An entry names its kind by one key (``log``, ``logstash``, ``slack``, ``webhook``, ``sns``, ``ses``,
``sqs``) whose value that kind's model validates, beside the common keys ``name``, ``on``,
``phases`` and ``stages``. A kind's runtime (sockets, boto3) is not imported here: the registry in
``cdtui.notify.sinks`` maps the key to its module. The key names follow issue #13's sketch and are a
contract: documentation and users' files rely on them.

To add a kind: its model here (next to the placeholders below), a field of that name on
``NotifyEntry``, and its entry in ``cdtui.notify.sinks.SINKS``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration
from cdtui.notify.aws_config import SesConfig, SnsConfig, SqsConfig

ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
SINK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

OUTCOMES = (
    "all",
    "failed",
    "succeeded",
    "gate",
    "release",
    "rollback",
    "abort",
    "alert",
    "summary",
)
"""Words ``on:`` takes besides event kind names (``StageFinished``): ``cdtui.notify.filters``."""

DEFAULT_ON = ("failed", "gate", "release", "rollback", "abort", "alert", "summary")
"""What a sink hears when its entry has no ``on:``: failures, gates waiting, release state
(release, rollback, abort), alerts, and one summary per run. Slack narrows it (``SlackSink``)."""

EVENT_KINDS = (
    "RunStarted",
    "RunFinished",
    "PhaseStarted",
    "PhaseFinished",
    "GateWaiting",
    "GateApproved",
    "StageStarted",
    "StageFinished",
    "ArtifactStored",
    "MetricRecorded",
    "LoadProgress",
    "Notice",
    "WeightChanged",
    "HealthSampled",
    "ReleaseStateChanged",
    "ColourDeployed",
    "AlertRaised",
    "CommitReleased",
    "OutputsPublished",
    "StagesExpanded",
    "StepStarted",
    "StepFinished",
    "CommitTested",
    "AlertFired",
    "AlertResolved",
    "MonitorActionTaken",
)
"""Event class names (cdtui.engine.events, cdtui.release.events) an ``on:`` may name; listed,
not imported, so validating a file loads no engine (``tests/test_notify_config.py`` checks it)."""


class LogConfig(Model):
    """``log: events.jsonl``: the JSONL event log, which is also the outbox every sink reads.

    Relative paths are under the state dir. It is always written (``{log: PATH}`` only moves it)."""

    path: str = Field("events.jsonl", min_length=1)


class LogstashConfig(Model):
    """A logstash ``tcp`` input with the ``json_lines`` codec; ``tls: true`` for an ssl input."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None  # a CA bundle for a private CA; default: the system's
    verify: bool = True  # false accepts any certificate (a test rig only)
    timeout: Duration = 5.0


class SlackConfig(Model):
    """A Slack incoming webhook; its URL is a secret: from the environment or ``secrets:``."""

    webhook_env: str | None = Field(None, pattern=ENV)
    webhook_secret: str | None = None  # the name of an entry of ``secrets:``
    log_lines: int = Field(15, ge=0, le=200)  # of the failing stage, masked and clipped
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _one_source(self) -> SlackConfig:
        _one_of(self, "webhook_env", "webhook_secret", required=True)
        return self


class WebhookConfig(Model):
    """A generic webhook: POST of the JSON payload; with ``secret_env`` (or ``hmac_secret``) an
    ``X-Cdtui-Signature: sha256=HEX`` header signs the body (HMAC-SHA256)."""

    url: str | None = None  # in the file: only for a URL that is no secret (a local listener)
    url_env: str | None = Field(None, pattern=ENV)
    url_secret: str | None = None
    secret_env: str | None = Field(None, pattern=ENV)
    hmac_secret: str | None = None
    header: str = Field("X-Cdtui-Signature", pattern=r"^[A-Za-z0-9-]+$")
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _sources(self) -> WebhookConfig:
        _one_of(self, "url", "url_env", "url_secret", required=True)
        _one_of(self, "secret_env", "hmac_secret", required=False)
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


# -- AWS sinks: their models live beside the sinks (cdtui/notify/aws_config.py) ----------------
# -----------------------------------------------------------------------------------------------
KINDS = ("log", "logstash", "slack", "webhook", "sns", "ses", "sqs")


class NotifyEntry(Model):
    """One sink. ``on:`` (default ``DEFAULT_ON``), ``phases:`` and ``stages:`` filter its events;
    ``name`` is what errors, the console and ``cdtui notify test NAME`` call it (default: kind)."""

    name: str | None = Field(None, pattern=SINK_NAME, max_length=60)
    on: list[str] | None = None
    phases: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list)
    dedupe: Duration | None = None  # identical messages within this window go once
    optional: bool = False  # a variable it needs is unset: the sink is off, without a warning
    log: LogConfig | None = None
    logstash: LogstashConfig | None = None
    slack: SlackConfig | None = None
    webhook: WebhookConfig | None = None
    sns: SnsConfig | None = None
    ses: SesConfig | None = None
    sqs: SqsConfig | None = None

    @field_validator("log", mode="before")
    @classmethod
    def _log_shorthand(cls, value: object) -> object:
        if value is True:
            return {}
        return {"path": value} if isinstance(value, str) else value

    @field_validator("on", "phases", "stages", mode="before")
    @classmethod
    def _list_shorthand(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("on")
    @classmethod
    def _known_words(cls, value: list[str] | None) -> list[str] | None:
        for word in value or ():
            if word.lower() not in OUTCOMES and word not in EVENT_KINDS:
                raise ValueError(
                    f"{word!r} is not an event kind or outcome: use "
                    + ", ".join(OUTCOMES)
                    + " or an event kind such as StageFinished"
                )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> NotifyEntry:
        given = [key for key in KINDS if getattr(self, key) is not None]
        if not given:
            raise ValueError("a notify entry names its sink: one of " + ", ".join(KINDS))
        if len(given) > 1:
            raise ValueError(
                "a notify entry is one sink: "
                + " and ".join(repr(k) for k in given)
                + " are both given (make them two entries)"
            )
        return self

    @property
    def kind(self) -> str:
        return next(key for key in KINDS if getattr(self, key) is not None)

    @property
    def config(self) -> Any:
        return getattr(self, self.kind)

    @property
    def sink_name(self) -> str:
        return self.name or self.kind


def _one_of(model: Model, *fields: str, required: bool) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) > 1:
        raise ValueError(" and ".join(given) + " are both given: keep one")
    if required and not given:
        raise ValueError("give one of " + ", ".join(fields))


def _unique_names(entries: list[NotifyEntry]) -> list[NotifyEntry]:
    seen: set[str] = set()
    for entry in entries:
        if entry.sink_name in seen:
            raise ValueError(
                f"two notify entries are called {entry.sink_name!r}: give one a name: (name: ...)"
            )
        seen.add(entry.sink_name)
    if sum(1 for e in entries if e.log is not None) > 1:
        raise ValueError("one log entry at most: it is the event log every sink reads")
    return entries


NotifyList = Annotated[list[NotifyEntry], AfterValidator(_unique_names)]
