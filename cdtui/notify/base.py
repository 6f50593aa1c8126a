"""The one small interface every notifier sink implements (httpx transports are the model).

A sink turns a batch of payloads (plain JSON-ready dicts, already masked) into one delivery:
``send`` returns when the far end accepted it, raises ``RetryLater`` (optionally with the
``Retry-After`` it was told) for a failure worth retrying, and ``SinkError`` for one that is not
(a 4xx that will never pass). Error texts never hold a URL or token: they name the sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

Payload = dict[str, Any]


class SinkError(Exception):
    """Delivery failed for good (bad request, bad credentials): dropped, counted, told once."""


class RetryLater(Exception):
    """Delivery failed for now (down, 5xx, 429): retried with backoff, or after ``retry_after``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink:
    """One configured destination. ``name`` is what errors and the console call it."""

    kind: ClassVar[str]  # the notify entry's key: log, logstash, slack, webhook, sns, ses, sqs
    batch: ClassVar[int] = 1  # payloads per send (a log or logstash takes many at once)
    rate: ClassVar[float | None] = None  # sends per second at most (Slack: 1)
    burst: ClassVar[int] = 1
    max_bytes: ClassVar[int | None] = None  # clamp of one encoded payload (SNS: 256 KB)

    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config

    async def send(self, payloads: Sequence[Payload]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; called once when the session ends."""
