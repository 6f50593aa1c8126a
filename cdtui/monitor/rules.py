"""When an alert fires and resolves: a small state machine per alert, fed each check result.

``ok`` → (the rule breaches) → ``pending`` → (held ``for``) → ``firing`` → (``resolve_after``
good checks in a row, no breach) → ``ok``. A breach is ``after`` service failures in a row, or
over ``window`` (at least ``min_samples`` checks) an error rate above ``error_rate`` or a p95
above ``p95_ms``. It fires once per incident; while it fires it is told again at most every
``repeat``. Results of a checker that could not run count for neither side: they are tracked per
check by ``CheckerWatch`` and told as what they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdtui.monitor.checks import Result

if TYPE_CHECKING:
    from cdtui.config.monitor import AlertSpec

CHECKER_AFTER = 3
"""Checks in a row that could not run before the checker's own alert fires."""


@dataclass(frozen=True, slots=True)
class Change:
    """What the caller must tell: ``fired``, ``repeated`` or ``resolved``, and why."""

    kind: str
    text: str
    fired_at: float = 0.0  # when the incident began


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


class AlertRule:
    """One alert's state; ``observe`` returns the change a result causes, if any."""

    def __init__(self, spec: AlertSpec) -> None:
        self.spec = spec
        self.state = "ok"  # ok | pending | firing
        self.failing = 0  # service failures in a row
        self.passing = 0  # good checks in a row
        self.calm = 0  # results in a row without a breach
        self.window: deque[Result] = deque()
        self.pending_since: float | None = None
        self.fired_at: float | None = None
        self.told_at: float | None = None
        self.repeats = 0
        self.last_breach = ""

    def restore(self, fired_at: float, told_at: float, repeats: int) -> None:
        """It was firing when the monitor stopped: it goes on firing, told already."""
        self.state, self.fired_at, self.told_at, self.repeats = "firing", fired_at, told_at, repeats

    @property
    def firing(self) -> bool:
        return self.state == "firing"

    def observe(self, result: Result) -> Change | None:
        if result.outcome == "checker":
            return None
        now = result.at
        self._count(result)
        breach = self.breach(now)
        if breach:
            self.last_breach = breach
            self.calm = 0
        else:
            self.calm += 1
        if self.state == "firing":
            if (
                not breach
                and self.passing >= self.spec.resolve_after
                and (self.calm >= self.spec.resolve_after)
            ):
                return self._resolve(now)
            repeat = self.spec.repeat
            if repeat and self.told_at is not None and now - self.told_at >= repeat:
                self.told_at = now
                self.repeats += 1
                text = f"{self.spec.name} still firing: {self.last_breach}"
                return Change("repeated", text, self.fired_at or now)
            return None
        if not breach:
            self.state, self.pending_since = "ok", None
            return None
        if self.pending_since is None:
            self.pending_since = now
            self.state = "pending"
        if now - self.pending_since >= self.spec.for_:
            self.state, self.fired_at, self.told_at, self.repeats = "firing", now, now, 0
            return Change("fired", f"{self.spec.name}: {breach}", now)
        return None

    def _count(self, result: Result) -> None:
        if result.ok:
            self.failing, self.passing = 0, self.passing + 1
        else:
            self.failing, self.passing = self.failing + 1, 0
        if self.spec.windowed:
            self.window.append(result)
            while self.window and self.window[0].at < result.at - self.spec.window:
                self.window.popleft()

    def breach(self, now: float) -> str:
        """Why the rule breaches now ('' when it does not)."""
        spec = self.spec
        if spec.threshold and self.failing >= spec.threshold:
            return f"{self.failing} failed checks in a row"
        if not spec.windowed or len(self.window) < spec.min_samples:
            return ""
        failed = sum(1 for r in self.window if not r.ok)
        rate = failed / len(self.window)
        if spec.error_rate is not None and rate > spec.error_rate:
            return (
                f"error rate {rate:.0%} > {spec.error_rate:.0%} "
                f"({failed} of {len(self.window)} checks in {spec.window:g}s)"
            )
        p95 = percentile([r.latency_ms for r in self.window if r.ok], 95)
        if spec.p95_ms is not None and p95 is not None and p95 > spec.p95_ms:
            return (
                f"p95 {p95:.0f} ms > {spec.p95_ms:g} ms over {len(self.window)} checks "
                f"in {spec.window:g}s"
            )
        return ""

    def _resolve(self, now: float) -> Change:
        began = self.fired_at or now
        self.state, self.pending_since, self.fired_at, self.told_at = "ok", None, None, None
        return Change(
            "resolved",
            f"{self.spec.name} resolved after {now - began:.1f}s: "
            f"{self.passing} good checks in a row",
            began,
        )


class CheckerWatch:
    """A check whose checker cannot run (``CHECKER_AFTER`` in a row) is told once as such, and
    once more when it runs again: the service is not called down for what the checker lacks."""

    def __init__(self, check: str) -> None:
        self.check = check
        self.errors = 0
        self.firing = False
        self.fired_at: float | None = None
        self.last = ""

    def observe(self, result: Result) -> Change | None:
        if result.outcome == "checker":
            self.errors += 1
            self.last = result.detail
            if not self.firing and self.errors >= CHECKER_AFTER:
                self.firing, self.fired_at = True, result.at
                return Change(
                    "fired",
                    f"the checker of {self.check} cannot run ({self.errors} times in a row): "
                    f"{result.detail}; this says nothing about the service",
                    result.at,
                )
            return None
        self.errors = 0
        if self.firing:
            began = self.fired_at or result.at
            self.firing, self.fired_at = False, None
            return Change("resolved", f"the checker of {self.check} runs again", began)
        return None
