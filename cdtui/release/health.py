"""Health of each colour, checked on an interval: latency, status, rolling error rate and p95.

A plain asyncio-streams HTTP/1.1 client (one connection per check, ``Connection: close``), so a
check measures what a new client would see and adds no dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from urllib.parse import SplitResult, urlsplit

from cdtui.config.release import HEALTH_WINDOW, HealthSpec

WINDOW = HEALTH_WINDOW
"""Samples per colour that the error rate and p95 are computed over."""
MAX_BODY = 64 * 1024
VERSION_BODY = 4096
"""Bytes of a health answer searched for a version (``"version": "1.2.0"`` in JSON)."""
_VERSION = re.compile(rb'"version"\s*:\s*"([^"\\]{1,64})"')
DOWN_STATUSES = frozenset(
    {"fail", "failed", "failure", "error", "down", "unhealthy", "out_of_service", "critical", "ko"}
)
"""A JSON health answer's top-level ``status`` values that mean not healthy, whatever the HTTP
status (Spring's ``DOWN``, the IETF health draft's ``fail``, the usual ``error``)."""


@dataclass(frozen=True, slots=True)
class Sample:
    colour: str
    ok: bool
    latency_ms: float
    status: int  # 0 when no HTTP answer came
    at: float
    error: str = ""
    version: str = ""  # what the colour says it runs, when its health answer tells


async def probe(colour: str, base_url: str, spec: HealthSpec) -> Sample:
    """One check: GET base_url + spec.path within spec.timeout; never raises for a bad answer."""
    parts = urlsplit(base_url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    began = time.perf_counter()
    status, error = 0, ""
    body = b""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(spec.timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
            path = (parts.path.rstrip("/") + spec.path) or "/"
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {_host_header(parts)}\r\n"
                "User-Agent: cdtui-health\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            body = await _read_body(reader, head, spec)
    except TimeoutError:
        error = f"no answer within {spec.timeout:g}s"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    latency = (time.perf_counter() - began) * 1000
    ok = not error and status == spec.expect_status
    if ok and spec.body_contains is not None and spec.body_contains.encode() not in body:
        ok, error = False, f"body lacks {spec.body_contains!r}"
    elif ok and spec.body_contains is None and (down := _says_down(body)) is not None:
        ok, error = False, f'HTTP {status} but the body says "status": {down!r}'
    if not error and not ok:
        error = f"HTTP {status}, expected {spec.expect_status}"
    found = _VERSION.search(body)
    version = found.group(1).decode(errors="replace") if found else ""
    return Sample(colour, ok, latency, status, time.time(), error, version)


def _says_down(body: bytes) -> str | None:
    """The ``status`` of a JSON object answer when it names a down state, else None."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    status = answer.get("status") if isinstance(answer, dict) else None
    if isinstance(status, str) and status.strip().lower().replace("-", "_") in DOWN_STATUSES:
        return status
    return None


def _host_header(parts: SplitResult) -> str:
    """host[:port] without any user:password@ (credentials never go in a Host header)."""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


async def _read_body(reader: asyncio.StreamReader, head: bytes, spec: HealthSpec) -> bytes:
    """The start of the answer's body: all of it for ``body_contains``, else enough to find a
    version. Never waits for bytes a Content-Length says will not come."""
    limit = MAX_BODY if spec.body_contains is not None else VERSION_BODY
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if length is not None:
        want = min(int(length.group(1)), limit)
        if want == 0:
            return b""
        try:
            return await reader.readexactly(want)
        except asyncio.IncompleteReadError as exc:
            return exc.partial
    return await reader.read(limit)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


class Checked(Protocol):
    """What a window needs of a check: a probe's ``Sample`` or the views' ``Check``."""

    @property
    def ok(self) -> bool: ...

    @property
    def latency_ms(self) -> float: ...


C = TypeVar("C", bound=Checked)


class HealthWindow(Generic[C]):
    """The last ``size`` checks of one colour and the runs of passes and failures: the one
    definition of error rate and latency percentiles that the rollout and the views share."""

    def __init__(self, size: int = WINDOW) -> None:
        self.recent: deque[C] = deque(maxlen=size)
        self.checks = 0  # every check seen, not only those still in the window
        self.consecutive_failures = 0
        self.consecutive_ok = 0

    def add(self, check: C) -> None:
        self.recent.append(check)
        self.checks += 1
        self.consecutive_failures = 0 if check.ok else self.consecutive_failures + 1
        self.consecutive_ok = self.consecutive_ok + 1 if check.ok else 0

    def clear(self) -> None:
        self.recent.clear()
        self.consecutive_failures = self.consecutive_ok = 0

    @property
    def failed(self) -> int:
        return sum(not c.ok for c in self.recent)

    @property
    def error_rate(self) -> float:
        return self.failed / len(self.recent) if self.recent else 0.0

    def latency(self, pct: float) -> float | None:
        """A percentile of the passing checks' latency (failures have no meaningful one)."""
        return percentile([c.latency_ms for c in self.recent if c.ok], pct)

    @property
    def p95_ms(self) -> float | None:
        return self.latency(95)

    @property
    def last(self) -> C | None:
        return self.recent[-1] if self.recent else None


class ColourHealth(HealthWindow[Sample]):
    """One colour as the rollout's analysis judges it: the window since the step began."""

    def __init__(self, colour: str, window: int = WINDOW) -> None:
        super().__init__(window)
        self.colour = colour
        self.first_failure_at: float | None = None  # time.monotonic() of the current failing run

    def add(self, sample: Sample) -> None:
        super().add(sample)
        if sample.ok:
            self.first_failure_at = None
        elif self.first_failure_at is None:
            self.first_failure_at = time.monotonic()

    def reset(self) -> None:
        """Forget the past: analysis of a new step judges only what happened since."""
        self.clear()
        self.first_failure_at = None

    def breach(self, spec: HealthSpec) -> str | None:
        """Why this colour fails its health criteria now, or None."""
        if self.consecutive_failures >= spec.consecutive_failures:
            why = self.last.error if self.last else ""
            return f"{self.consecutive_failures} consecutive failed checks ({why})"
        if len(self.recent) >= spec.min_checks and self.error_rate > spec.max_error_rate:
            return (
                f"error rate {self.error_rate:.0%} > {spec.max_error_rate:.0%} "
                f"({self.failed} of the last {len(self.recent)} checks failed)"
            )
        p95 = self.p95_ms
        if spec.max_p95_ms is not None and p95 is not None and p95 > spec.max_p95_ms:
            return f"p95 latency {p95:.0f} ms > {spec.max_p95_ms:g} ms"
        return None

    def summary(self) -> str:
        p95 = self.p95_ms
        return (
            f"{self.colour}: {len(self.recent) - self.failed}/"
            f"{len(self.recent)} ok, error rate {self.error_rate:.0%}, "
            f"p95 {'-' if p95 is None else f'{p95:.0f} ms'}"
        )


class HealthChecker:
    """Checks each colour every ``spec.interval`` in its own task; calls ``on_sample`` per check."""

    def __init__(
        self,
        urls: dict[str, str],
        spec: HealthSpec,
        on_sample: Callable[[Sample], None] | None = None,
        *,
        window: int = WINDOW,
    ) -> None:
        self.urls = dict(urls)
        self.spec = spec
        self.on_sample = on_sample
        self.health = {colour: ColourHealth(colour, window) for colour in self.urls}
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> HealthChecker:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(colour), name=f"health-{colour}") for colour in self.urls
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def check_once(self, colour: str) -> Sample:
        sample = await probe(colour, self.urls[colour], self.spec)
        self.health[colour].add(sample)
        if self.on_sample is not None:
            self.on_sample(sample)
        return sample

    async def _loop(self, colour: str) -> None:
        """Fixed-rate ticks; checks of one colour never overlap, so one slower than ``interval``
        (allowed up to ``timeout``) is followed at once by the next."""
        next_at = time.monotonic()
        while True:
            await self.check_once(colour)
            next_at += self.spec.interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, delay))
