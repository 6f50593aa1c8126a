"""A load stage's account in its log: the figures, the errors by kind, each threshold's
verdict, the generator's own figures and the comparison with the previous passing run."""

from __future__ import annotations

from cdtui.load.results import Report
from cdtui.load.thresholds import figure


def told(report: Report) -> list[str]:
    """The log's account of the run: figures, errors, verdicts, the generator, the comparison."""
    total, latency = report.total, report.total.latency
    lines = [
        f"requests {total.requests} in {report.elapsed:.1f}s ({report.achieved_rate:.1f}/s), "
        f"failed {total.failed} ({total.failed_rate:.2%})",
        "latency ms: "
        + " · ".join(
            f"{name} {figure(value)}"
            for name, value in (
                ("min", latency.minimum),
                ("p50", latency.percentile(50)),
                ("p90", latency.percentile(90)),
                ("p95", latency.percentile(95)),
                ("p99", latency.percentile(99)),
                ("max", latency.maximum),
            )
        ),
    ]
    if total.errors:
        lines.append(
            "errors: "
            + ", ".join(
                f"{kind} {n} ({total.samples.get(kind, '')})" for kind, n in total.errors.items()
            )
        )
    for v in report.verdicts:
        lines.append(("✓ " if v.passed else "✗ ") + v.sentence())
    valid = report.validity
    lines.append(
        f"generator: {report.workers} worker(s), cpu {valid.cpu:.0f}% of a core, "
        f"lag p99 {valid.lag_p99:.1f} ms, {report.connections} connection(s)"
    )
    for why in valid.why:
        lines.append(f"INVALID: {why}")
    if report.previous_run is not None:
        shown = [
            f"{c.name} {figure(c.previous)} -> {figure(c.current)} ({c.regression:+.1f}%)"
            for c in report.changes
            if c.regression is not None and c.name.startswith("http_req_duration p(9")
        ]
        lines.append(f"against run {report.previous_run}: " + ("; ".join(shown) or "no change"))
    return lines
