"""The one small interface every notifier sink implements (httpx transports are the model).

A sink turns a batch of payloads (plain JSON-ready dicts, already masked) into one delivery:
``send`` returns when the far end accepted it, raises ``RetryLater`` (optionally with the
``Retry-After`` it was told) for a failure worth retrying, and ``SinkError`` for one that is not
(a 4xx that will never pass). Error texts never hold a URL or token: they name the sink.

``send`` may return a short answer (``HTTP 200``) that ``cdtui notify test`` prints. A sink's
secrets (a webhook URL, an HMAC key) come from ``context.secret(...)``; it lists them in
``secret_values()`` so the notifier masks them in every payload and error line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

Payload = dict[str, Any]


class SinkError(Exception):
    """Delivery failed for good (bad request, bad credentials): dropped, counted, told once."""


class RetryLater(Exception):
    """Delivery failed for now (down, 5xx, 429): retried with backoff, or after ``retry_after``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SinkContext:
    """What a sink may need beyond its config: where state lives and where secrets come from."""

    project: str
    project_dir: Path
    state_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # resolved ``secrets:`` by name

    def secret(self, sink: str, env: str | None, secret: str | None, what: str) -> str | None:
        """A value named by an ``*_env`` field (environment) or ``*_secret`` field (``secrets:``);
        SinkError naming the sink and the variable, never a value, when it is unset."""
        if env is not None:
            value = self.environ.get(env, "")
            if not value:
                raise SinkError(f"{sink}: {what} comes from ${env}, which is not set")
            return value
        if secret is not None:
            value = self.secrets.get(secret, "")
            if not value:
                raise SinkError(f"{sink}: {what} comes from secrets.{secret}, which has no value")
            return value
        return None


class Sink:
    """One configured destination. ``name`` is what errors and the console call it."""

    kind: ClassVar[str]  # the notify entry's key: log, logstash, slack, webhook, sns, ses, sqs
    batch: ClassVar[int] = 1  # payloads per send (a log or logstash takes many at once)
    rate: ClassVar[float | None] = None  # sends per second at most (Slack: 1)
    burst: ClassVar[int] = 1
    max_bytes: ClassVar[int | None] = None  # clamp of one encoded payload (SNS: 256 KB)
    default_on: ClassVar[tuple[str, ...] | None] = None  # None: config.notify.DEFAULT_ON
    dedupe: ClassVar[float] = 0.0  # seconds within which an identical message goes once
    # Seconds a woken worker waits for more events before a send (a sink that takes batches):
    # a run's events then go a few per send, not one send (and its syscalls) each.
    linger: ClassVar[float] = 0.0

    def __init__(self, name: str, config: Any, context: SinkContext | None = None) -> None:
        self.name = name
        self.config = config
        self.context = context

    def secret_values(self) -> list[str]:
        """Values (URLs, tokens) to mask in every payload and error line of this sink."""
        return []

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; called once when the session ends."""
