"""What the SNS, SES and SQS sinks share: one boto3 client per target, run off the event loop.

boto3 costs ~0.3 s to import, so it is imported only when a sink first sends (startup time is a
feature). Clients are thread-safe and cached per (service, region, endpoint_url, profile); each
call runs in a worker thread. botocore's own retries are off: the outbox owns retry, backoff and
Retry-After, so a sink answers at once with ``RetryLater`` (throttled, 5xx, unreachable) or
``SinkError`` (denied, invalid, not found). Error texts name the sink, never a URL, an account
id or a secret.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from cdtui.engine.masking import SecretMasker
from cdtui.notify.base import Payload, RetryLater, Sink, SinkError

SIZE_LIMIT = 256 * 1024  # SNS and SQS: one message, attributes included
CORE_KEYS = ("kind", "id", "project", "run", "phase", "stage", "status")
ATTRIBUTE_KEYS = ("kind", "status", "project", "phase", "stage")
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "Throttled",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "SlowDown",
    "KMSThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
}
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_ACCOUNT = re.compile(r"(?<!\d)\d{12}(?!\d)")
_MAX_ERROR = 300

_lock = threading.Lock()
_sessions: dict[str | None, Any] = {}
_clients: dict[tuple[str, str | None, str | None, str | None], Any] = {}


def client(service: str, region: str | None, endpoint_url: str | None, profile: str | None) -> Any:
    """The shared boto3 client for this target, made on first use (sessions are not thread-safe)."""
    key = (service, region, endpoint_url, profile)
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            session = _sessions.get(profile)
            if session is None:
                session = _sessions[profile] = boto3.session.Session(profile_name=profile)
            config = Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=15,
                user_agent_extra="cdtui",
            )
            found = _clients[key] = session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )
        return found


def close_clients() -> None:
    """Close every cached client's connections (the session's end; tests between servers)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        _sessions.clear()
    for each in clients:
        each.close()


class AwsSink(Sink):
    """A sink that calls one AWS API; subclasses turn payloads into calls."""

    service: ClassVar[str]
    method: ClassVar[str] = ""  # the API call of one payload (SQS batches: it has its own send)
    target: ClassVar[str]  # the config field that names where messages go, for error hints
    max_bytes = SIZE_LIMIT

    def __init__(
        self, name: str, config: Any, context: Any = None, *, masker: SecretMasker | None = None
    ) -> None:
        super().__init__(name, config)
        self.context = context  # a SinkContext: only its resolved ``secrets:`` are used here
        known = getattr(context, "secrets", None) or {}
        self.masker = masker or SecretMasker(known.values())
        self._delivered: OrderedDict[str, None] = OrderedDict()

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        """One call per payload; the answer (``cdtui notify test`` prints it) names the last."""
        answer = None
        for payload in self.fresh(payloads):
            reply = await self.call(self.method, **self.request(payload))
            self.delivered(payload)
            answer = f"{self.method}: MessageId {reply.get('MessageId', '?')}"
        return answer

    def request(self, payload: Payload) -> dict[str, Any]:
        """The keyword arguments of ``method`` for one payload."""
        raise NotImplementedError

    def client(self) -> Any:
        return client(
            self.service, self.config.target_region(), self.config.endpoint_url, self.config.profile
        )

    async def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One API call in a worker thread, its failure mapped to RetryLater or SinkError."""
        return await asyncio.to_thread(self._call, method, kwargs)

    def _call(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        from botocore import exceptions as aws

        try:
            return getattr(self.client(), method)(**kwargs)
        except aws.ClientError as exc:
            raise self.client_error(method, exc) from None
        except aws.NoRegionError:
            hint = f"set {self.kind}.region or AWS_DEFAULT_REGION"
            raise self.error(f"no AWS region: {hint}") from None
        except (aws.NoCredentialsError, aws.PartialCredentialsError):
            raise self.error(
                "no AWS credentials: set AWS_PROFILE or the sink's profile, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except aws.ProfileNotFound:
            raise self.error(f"AWS profile {self.config.profile!r} not found") from None
        except (aws.ConnectionError, aws.HTTPClientError) as exc:
            # The exception's text holds the endpoint URL: only its class is told.
            raise RetryLater(
                self.scrub(f"cannot reach AWS {self.service} ({type(exc).__name__})")
            ) from None
        except aws.BotoCoreError as exc:
            raise self.error(f"AWS {self.service} {method}: {exc}") from None

    def client_error(self, method: str, exc: Any) -> RetryLater | SinkError:
        """Throttling and 5xx are worth retrying; access, validation and not found are not."""
        response = exc.response
        error = response.get("Error", {})
        code = str(error.get("Code", "?"))
        message = str(error.get("Message") or error.get("message") or "")
        meta = response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        text = f"AWS {code} on {method}" + (f": {message}" if message else "")
        if code in _THROTTLED or status == 429 or status >= 500:
            return RetryLater(self.scrub(text), retry_after(meta.get("HTTPHeaders", {})))
        hint = self.hint(method, code, message)
        return self.error(f"{text}: {hint}" if hint else text)

    def hint(self, method: str, code: str, message: str) -> str | None:
        """The next step for an error that will not pass by itself."""
        if "NotFound" in code or "NonExistent" in code or "DoesNotExist" in code:
            return f"check {self.kind}.{self.target}"
        if "AccessDenied" in code or "Authorization" in code or "Forbidden" in code:
            return f"the credentials need {self.service}:{_action(method)}"
        return None

    def error(self, text: str) -> SinkError:
        return SinkError(self.scrub(text))

    def scrub(self, text: str) -> str:
        """``<kind> sink '<name>': text`` with URLs, account ids and secrets taken out, clipped."""
        text = _ACCOUNT.sub("***", _URL.sub("<url>", self.masker.mask_text(text)))
        if len(text) > _MAX_ERROR:
            text = text[: _MAX_ERROR - 3] + "..."
        return f"{self.kind} sink {self.name!r}: {text}"

    def fresh(self, payloads: Iterable[Payload]) -> list[Payload]:
        """Payloads not yet delivered by this sink (a batch retried after a partial failure)."""
        return [p for p in payloads if str(p.get("id")) not in self._delivered]

    def delivered(self, payload: Payload) -> None:
        self._delivered[str(payload.get("id"))] = None
        while len(self._delivered) > 1000:
            self._delivered.popitem(last=False)


def retry_after(headers: dict[str, Any]) -> float | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from AWS, the outbox's backoff does


def _action(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


def dumps(payload: Payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def clamp(payload: Payload, fits: Callable[[Payload], bool]) -> Payload:
    """The payload, its largest non-core fields halved until ``fits``; marked ``clipped``.

    Lists keep their last items (a log's tail says why it failed), strings their start. When
    nothing is left to shrink, only the core keys are kept.
    """
    if fits(payload):
        return payload
    clipped = dict(payload, clipped=True)
    for _ in range(64):
        if fits(clipped):
            return clipped
        sizes = {
            key: len(dumps(value))
            for key, value in clipped.items()
            if key not in CORE_KEYS and isinstance(value, str | list | dict) and value
        }
        if not sizes:
            break
        key = max(sizes, key=sizes.__getitem__)
        clipped[key] = _halve(clipped[key])
    core = {key: payload[key] for key in CORE_KEYS if key in payload}
    return dict(core, clipped=True)


def _halve(value: Any) -> Any:
    if isinstance(value, str):
        return value[: len(value) // 2] + "..." if len(value) > 8 else ""
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str):
            return [_halve(value[0])] if len(value[0]) > 8 else []
        return value[len(value) // 2 + 1 :]
    return {}  # a nested object: too hard to halve fairly, dropped


def headline(payload: Payload) -> str:
    """'shop run 42 failed at deploy/web' (a subject line, an SMS): project, run, outcome."""
    project = payload.get("project") or "cdtui"
    run = payload.get("run")
    text = f"{project} run {run}" if run not in (None, "") else str(project)
    outcome = payload.get("status") or payload.get("kind") or "event"
    text += f" {outcome}"
    where = "/".join(str(payload[key]) for key in ("phase", "stage") if payload.get(key))
    if where:
        text += f" at {where}"
    return text


def summary_lines(payload: Payload) -> tuple[list[tuple[str, str]], list[str]]:
    """(field, value) rows, and the longest list of strings apart (a failing stage's last lines)."""
    lists = [k for k, v in payload.items() if isinstance(v, list) and v]
    texts = [k for k in lists if all(isinstance(item, str) for item in payload[k])]
    tail_key = max(texts, key=lambda k: len(payload[k]), default=None)
    rows = [
        (key, _shown(key, value))
        for key, value in payload.items()
        if key != tail_key and value not in (None, "", [], {})
    ]
    return rows, list(payload[tail_key]) if tail_key else []


def _shown(key: str, value: Any) -> str:
    if key == "at" and isinstance(value, int | float):  # epoch seconds: a time people read
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return dumps(value) if isinstance(value, dict | list) else str(value)


def plain_text(payload: Payload) -> str:
    """The event for people: headline, one field a line, then the last lines indented."""
    rows, tail = summary_lines(payload)
    width = max((len(key) for key, _ in rows), default=0)
    text = [headline(payload), ""] + [f"{key.ljust(width)}  {value}" for key, value in rows]
    if tail:
        text += ["", "last lines:"] + [f"  {line}" for line in tail]
    return "\n".join(text) + "\n"


def attributes(payload: Payload) -> dict[str, dict[str, str]]:
    """The fields a subscriber filters on, as SNS/SQS String attributes (AWS refuses empty ones)."""
    found = {}
    for key in ATTRIBUTE_KEYS:
        value = payload.get(key)
        if value not in (None, ""):
            found[key] = {"DataType": "String", "StringValue": str(value)[:256]}
    return found


def message_size(body: str, attrs: dict[str, dict[str, str]]) -> int:
    """Bytes SNS and SQS count against 256 KB: the body plus every attribute's name, type, value."""
    size = len(body.encode())
    for key, value in attrs.items():
        size += len(key.encode()) + len(value["DataType"]) + len(value["StringValue"].encode())
    return size
