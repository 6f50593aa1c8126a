"""The words a ``load:`` stage is written in: rates (``200/s``), k6 threshold expressions
(``p(95)<50``, ``rate<0.01``) and percentages (``10%``). Each parser raises ValueError with a
message an operator can act on; the config models turn it into a located error."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
AGGREGATIONS: dict[str, tuple[str, ...]] = {
    "http_req_duration": ("p(N)", "avg", "min", "max", "med"),
    "http_req_failed": ("rate",),
    "http_reqs": ("rate", "count"),
}
"""Which aggregations each k6 metric name has here."""
UNITS = {"http_req_duration": "ms", "http_req_failed": "", "http_reqs": "/s"}

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(ms|s|m|h)\s*$")
_RATE_UNITS = {"ms": 1000.0, "s": 1.0, "m": 1 / 60, "h": 1 / 3600}
_EXPR = re.compile(
    r"^\s*(?P<agg>p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\)|[a-z]+)\s*(?P<op>[<>=!]=?)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
MAX_RATE = 1_000_000.0


def parse_rate(value: object) -> float:
    """Requests a second from ``200/s``, ``12000/m``; a plain number is per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 200/s, not a boolean")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (match := _RATE.match(value)):
        rate = float(match.group(1)) * _RATE_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a rate such as 200/s or 6000/m, got {value!r}")
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_RATE:
        raise ValueError(f"a rate must be above 0 and at most {MAX_RATE:,.0f}/s, got {value!r}")
    return rate


def parse_percent(value: object) -> float:
    """``10%`` -> 10.0; a plain number is taken as percent too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        pct = float(value)
    elif isinstance(value, str) and (match := _PERCENT.match(value)):
        pct = float(match.group(1))
    else:
        raise ValueError(f"expected a percentage such as 10%, got {value!r}")
    if not 0 <= pct <= 10_000:
        raise ValueError(f"expected a percentage between 0% and 10000%, got {value!r}")
    return pct


@dataclass(frozen=True, slots=True)
class Expression:
    """One threshold: ``aggregation op limit`` on a metric; the limit in the metric's unit."""

    metric: str
    aggregation: str  # p(95), avg, min, max, med, rate, count
    op: str
    limit: float
    text: str

    @property
    def percentile(self) -> float | None:
        if self.aggregation.startswith("p("):
            return float(self.aggregation[2:-1])
        if self.aggregation == "med":
            return 50.0
        return None

    def passes(self, value: float) -> bool:
        return OPS[self.op](value, self.limit)

    @property
    def name(self) -> str:
        """The metric's name as recorded: ``http_req_duration p(95)``."""
        return f"{self.metric} {self.aggregation}"


def parse_expression(metric: str, text: object) -> Expression:
    """``p(95)<50`` on ``http_req_duration``; the error says what the metric accepts."""
    allowed = AGGREGATIONS[metric]
    shown = ", ".join(allowed)
    example = {"http_req_duration": "p(95)<200", "http_req_failed": "rate<0.01"}.get(
        metric, "rate>=190"
    )
    if not isinstance(text, str):
        raise ValueError(f"expected a threshold such as {example!r}, got {text!r}")
    match = _EXPR.match(text)
    if not match:
        raise ValueError(
            f"cannot read threshold {text!r}: expected AGGREGATION OP NUMBER such as "
            f"{example!r} ({metric} has {shown})"
        )
    agg, op, unit = match.group("agg"), match.group("op"), match.group("unit")
    if op not in OPS:
        raise ValueError(f"{text!r}: the operator {op!r} is not supported; use <, <=, > or >=")
    if match.group("pct") is not None:
        pct = float(match.group("pct"))
        if not 0 < pct <= 100:
            raise ValueError(f"{text!r}: a percentile must be in (0, 100], got {pct:g}")
        agg = f"p({pct:g})"
        kind = "p(N)"
    else:
        kind = agg
    if kind not in allowed:
        raise ValueError(f"{text!r}: {metric} has no {agg!r} (it has {shown})")
    limit = float(match.group("value"))
    if unit == "s" and metric == "http_req_duration":
        limit *= 1000
    elif unit == "%" and metric == "http_req_failed":
        limit /= 100
    elif unit and not (unit == "ms" and metric == "http_req_duration"):
        raise ValueError(f"{text!r}: the unit {unit!r} does not fit {metric}")
    return Expression(metric, agg, op, limit, text.strip())
