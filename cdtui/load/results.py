"""What a load run leaves: metric lines for the run store (``CDTUI_METRICS`` format), a JSON
summary and a JUnit XML report with one testcase per threshold (CI services show those)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from cdtui.load.compare import Change
from cdtui.load.stats import Stats
from cdtui.load.thresholds import Validity, Verdict, figure
from cdtui.store.artifacts import Metric

PERCENTILES = (50.0, 90.0, 95.0, 99.0)
"""Recorded for every run, whatever the thresholds ask."""


def metric_json(metric: Metric) -> str:
    """One line of the attempt's metrics file (``store.artifacts.parse_metric`` reads it)."""
    data: dict = {"name": metric.name, "value": round(metric.value, 6), "unit": metric.unit}
    if metric.threshold is not None:
        data.update(threshold=metric.threshold, op=metric.op)
    return json.dumps(data)


@dataclass
class Report:
    """Everything judged about one load stage's attempt."""

    stage: str
    description: str
    total: Stats
    by_label: dict[str, Stats]
    elapsed: float
    verdicts: list[Verdict]
    validity: Validity
    workers: int
    connections: int
    stopped: str = ""
    previous_run: int | None = None
    changes: list[Change] = field(default_factory=list)
    max_regression: float | None = None
    regressed: list[Change] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return self.total.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    @property
    def passed(self) -> bool:
        return self.validity.valid and not self.failed and not self.regressed

    def reason(self) -> str:
        """The stage's failure reason: every failed threshold with its value and limit."""
        parts = []
        if not self.validity.valid:
            parts.append("INVALID result (not judged): " + "; ".join(self.validity.why))
        parts += [v.sentence() for v in self.failed]
        parts += [
            f"{c.name} regressed {c.regression:.1f}% against run {self.previous_run} "
            f"(limit {self.max_regression:g}%)"
            for c in self.regressed
            if c.regression is not None
        ]
        if self.stopped:
            parts.append(f"stopped early: {self.stopped}")
        return "; ".join(parts)


def metric_lines(report: Report) -> list[Metric]:
    """Thresholds with their limits, then the usual figures, then the generator's own."""
    lines: list[Metric] = []
    seen: set[str] = set()
    for v in report.verdicts:
        lines.append(Metric(v.name, v.value, v.unit, v.expression.limit, v.expression.op))
        seen.add(v.name)
    latency = report.total.latency
    plain = [
        Metric(f"http_req_duration p({p:g})", latency.percentile(p), "ms") for p in PERCENTILES
    ]
    plain += [
        Metric("http_req_duration max", latency.maximum, "ms"),
        Metric("http_req_failed rate", report.total.failed_rate),
        Metric("http_reqs rate", report.achieved_rate, "/s"),
        Metric("http_reqs count", float(report.total.requests)),
    ]
    lines += [line for line in plain if line.name not in seen]
    for c in report.changes:
        if c.regression is not None:
            limit = report.max_regression if _limited(c, report) else None
            lines.append(Metric(f"regression {c.name}", c.regression, "%", limit, "<="))
    validity = report.validity
    lines.append(Metric("load generator cpu", validity.cpu, "%"))
    lines.append(Metric("load generator lag p(99)", validity.lag_p99, "ms"))
    return lines


def _limited(change: Change, report: Report) -> bool:
    return report.max_regression is not None and change.name in regression_names(report)


def regression_names(report: Report) -> set[str]:
    """What ``max_regression`` holds: p(95), p(99) and every duration threshold's figure."""
    names = {"http_req_duration p(95)", "http_req_duration p(99)"}
    names |= {v.name for v in report.verdicts if v.expression.metric == "http_req_duration"}
    return names


def _latency(stats: Stats) -> dict:
    h = stats.latency
    return {
        "min": h.minimum,
        "avg": round(h.mean, 3),
        **{f"p({p:g})": h.percentile(p) for p in (*PERCENTILES, 99.9)},
        "max": h.maximum,
    }


def _counts(stats: Stats, elapsed: float) -> dict:
    return {
        "requests": stats.requests,
        "rate": round(stats.requests / elapsed, 2) if elapsed > 0 else 0.0,
        "failed": stats.failed,
        "failed_rate": round(stats.failed_rate, 6),
        "errors": stats.errors,
        "error_samples": stats.samples,
        "statuses": stats.statuses,
        "latency_ms": _latency(stats),
    }


def summary(report: Report) -> dict:
    """The JSON summary: the figures, each threshold's verdict, the generator, the comparison."""
    return {
        "stage": report.stage,
        "load": report.description,
        "passed": report.passed,
        "valid": report.validity.valid,
        "reason": report.reason(),
        "elapsed_s": round(report.elapsed, 3),
        **_counts(report.total, report.elapsed),
        "scenarios": {
            label: _counts(stats, report.elapsed)
            for label, stats in report.by_label.items()
            if len(report.by_label) > 1
        },
        "thresholds": [
            {
                "metric": v.expression.metric,
                "scenario": v.scenario,
                "threshold": v.expression.text,
                "value": v.value,
                "op": v.expression.op,
                "limit": v.expression.limit,
                "unit": v.unit,
                "passed": v.passed,
            }
            for v in report.verdicts
        ],
        "generator": {
            "workers": report.workers,
            "connections": report.connections,
            "cpu_percent": round(report.validity.cpu, 1),
            "lag_p99_ms": round(report.validity.lag_p99, 3),
            "dropped": report.validity.dropped,
            "queued_share": round(report.validity.queued, 6),
            "invalid_because": list(report.validity.why),
        },
        "stopped": report.stopped,
        "comparison": {
            "previous_run": report.previous_run,
            "max_regression_percent": report.max_regression,
            "changes": {
                c.name: {"previous": c.previous, "current": c.current, "regression": c.regression}
                for c in report.changes
            },
        },
    }


def junit(report: Report) -> str:
    """One testcase per threshold, plus the generator's validity and each held regression."""
    cases: list[str] = []
    suite = f"load.{report.stage}"

    def case(name: str, failure: str | None) -> None:
        body = ""
        if failure is not None:
            body = f"<failure message={quoteattr(failure)}>{escape(failure)}</failure>"
        cases.append(
            f'    <testcase classname={quoteattr(suite)} name={quoteattr(name)} time="0">'
            f"{body}</testcase>"
        )

    validity = report.validity
    case("generator kept up", None if validity.valid else "; ".join(validity.why))
    for v in report.verdicts:
        name = v.name.replace(v.expression.aggregation, v.expression.text)
        if not validity.valid:
            case(name, f"not judged: the result is invalid ({v.sentence()})")
        else:
            case(name, None if v.passed else v.sentence())
    for c in report.changes:
        if _limited(c, report) and c.regression is not None:
            ok = c.regression <= (report.max_regression or 0)
            text = (
                f"{figure(c.previous)} -> {figure(c.current)}: {c.regression:+.1f}% "
                f"(limit {report.max_regression:g}%, run {report.previous_run})"
            )
            case(f"max_regression {c.name}", None if ok else text)
    failures = sum("<failure" in c for c in cases)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        f'  <testsuite name={quoteattr(suite)} tests="{len(cases)}" failures="{failures}" '
        f'errors="0" time="{report.elapsed:.3f}">\n'
        + "\n".join(cases)
        + "\n  </testsuite>\n</testsuites>\n"
    )
