"""Judging a load run: each threshold's measured value against its limit, per scenario too,
and whether the generator kept up (an overloaded generator's figures describe itself)."""

from __future__ import annotations

from dataclasses import dataclass

from cdtui.load.expressions import UNITS, Expression
from cdtui.load.stats import Stats


@dataclass(frozen=True, slots=True)
class Verdict:
    expression: Expression
    scenario: str | None  # None: the whole run
    value: float
    passed: bool
    unanswered: bool = False  # a duration threshold with no answered request to time

    @property
    def name(self) -> str:
        """As recorded and shown: ``http_req_duration p(95)``, scoped k6's way for a scenario."""
        metric = self.expression.metric
        if self.scenario:
            metric += "{scenario:" + self.scenario + "}"
        return f"{metric} {self.expression.aggregation}"

    @property
    def unit(self) -> str:
        return unit_of(self.expression)

    def sentence(self) -> str:
        """``http_req_duration p(95)<5: measured 21.3 ms, limit < 5 ms``."""
        e = self.expression
        scope = f" on {self.scenario}" if self.scenario else ""
        unit = f" {self.unit}" if self.unit else ""
        if self.unanswered:
            return f"{e.metric} {e.text}{scope}: no request was answered, nothing to time"
        return (
            f"{e.metric} {e.text}{scope}: measured {figure(self.value)}{unit}, "
            f"limit {e.op} {figure(e.limit)}{unit}"
        )


def unit_of(expression: Expression) -> str:
    if expression.metric == "http_reqs" and expression.aggregation == "count":
        return ""
    return UNITS[expression.metric]


def figure(value: float) -> str:
    """A measured value as an operator reads it: 1234, 21.35, 0.0042."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def measure(expression: Expression, stats: Stats, elapsed: float) -> float:
    """The value the expression's aggregation takes on ``stats`` (ms, rate 0..1, or per s)."""
    agg = expression.aggregation
    if expression.metric == "http_req_duration":
        latency = stats.latency
        pct = expression.percentile
        if pct is not None:
            return latency.percentile(pct)
        return {"avg": latency.mean, "min": latency.minimum, "max": latency.maximum}[agg]
    if expression.metric == "http_req_failed":
        return stats.failed_rate
    if agg == "count":
        return float(stats.requests)
    return stats.requests / elapsed if elapsed > 0 else 0.0


def judge(expression: Expression, stats: Stats, elapsed: float, scenario: str | None) -> Verdict:
    """A duration threshold with no answer to time fails: nothing answered is not fast."""
    value = measure(expression, stats, elapsed)
    if expression.metric == "http_req_duration" and not stats.latency.count:
        return Verdict(expression, scenario, value, False, unanswered=True)
    return Verdict(expression, scenario, value, expression.passes(value))


@dataclass(frozen=True, slots=True)
class Validity:
    """Whether the generator's own limits let the figures stand; ``why`` when not."""

    cpu: float  # the busiest worker's CPU, % of a core
    lag_p99: float  # ms late the 99th percentile send went out
    dropped: int  # arrivals never sent (the generator fell too far behind)
    why: tuple[str, ...]
    queued: float = 0.0  # share of requests that waited for a free connection, 0..1

    @property
    def valid(self) -> bool:
        return not self.why


QUEUED_MAX = 0.01
"""Past this share of requests waiting for one of the pool's connections, latency describes
the pool's limit, not the server."""


def validity(
    cpu: float,
    lag_p99: float,
    dropped: int,
    max_cpu: float,
    max_lag_ms: float,
    workers: int,
    queued: float = 0.0,
    connections: int = 0,
) -> Validity:
    why = []
    if cpu > max_cpu:
        why.append(f"the generator used {cpu:.0f}% of a core (over {max_cpu:g}%)")
    if lag_p99 > max_lag_ms:
        why.append(
            f"the generator fell behind its schedule: 1% of requests went out over "
            f"{lag_p99:.0f} ms late (limit {max_lag_ms:g} ms)"
        )
    if dropped:
        why.append(f"{dropped} scheduled request(s) were never sent")
    if why:
        why.append(
            f"spread the load over more workers (workers: {workers + 1} or auto) or lower the rate"
        )
    if queued > QUEUED_MAX:
        why.append(
            f"{queued:.1%} of requests waited for a free connection (at most {connections} "
            "open): raise connections:"
        )
    return Validity(cpu, lag_p99, dropped, tuple(why), queued)
