"""The ``load:`` kind: HTTP load in worker processes (``cdtui.load``), a progress event a
second for the console's graphs, thresholds judged in k6's words, and what the run keeps:
metrics (via the attempt's metrics file), a JSON summary and a JUnit report."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdtui.config.load import LoadSpec
from cdtui.engine.events import LoadProgress, Status
from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import CancelFlag, LineLog, StageContext

FAILED = 1


class LoadKind(StageKind):
    key = "load"
    config = LoadSpec

    def describe(self, spec: Any) -> str:
        return spec.describe()

    async def run(self, ctx: StageContext) -> ProcessResult:
        spec: LoadSpec = ctx.stage.spec
        log = LineLog(ctx)
        ctx.started(spec.describe())
        try:
            if ctx.timeout:
                async with asyncio.timeout(ctx.timeout):
                    return await _run(ctx, spec, log)
            return await _run(ctx, spec, log)
        except TimeoutError:
            reason = f"timed out after {ctx.timeout:g}s"
            log.line(reason)
            return ProcessResult(Status.TIMED_OUT, None, reason)


def plan_of(spec: LoadSpec) -> dict:
    """What a worker process needs, as plain JSON."""
    return {
        "requests": [
            {
                "url": r.url,
                "method": r.method,
                "headers": r.headers,
                "body": r.body,
                "weight": r.weight,
                "label": r.label,
            }
            for r in spec.requests()
        ],
        "rate": spec.rate,
        "stages": [[s.duration, s.target] for s in spec.stages],
        "vus": spec.vus,
        "duration": spec.total_duration,
        "timeout": spec.timeout,
        "connections": spec.connections,
    }


async def unreachable(spec: LoadSpec) -> str | None:
    """Why a target cannot be reached at all (connection refused, no such host), else None."""
    from cdtui.load.client import describe_error

    seen = set()
    for request in spec.requests():
        parts = urlsplit(request.url)
        where = (parts.hostname or "", parts.port or 80)
        if where in seen:
            continue
        seen.add(where)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*where), spec.timeout)
        except (OSError, TimeoutError) as error:
            why = "no answer" if isinstance(error, TimeoutError) else describe_error(error)
            return f"cannot reach {where[0]}:{where[1]} ({request.url}): {why}"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return None


async def _run(ctx: StageContext, spec: LoadSpec, log: LineLog) -> ProcessResult:
    from cdtui.load.account import told
    from cdtui.load.workers import run_workers, worker_count

    plan = plan_of(spec)
    count = worker_count(spec.workers, plan)
    log.line(f"{spec.describe()} ({count} worker(s), up to {spec.connections} connections)")
    why = await unreachable(spec)
    if why:
        log.line(why)
        return ProcessResult(Status.FAILED, FAILED, why)
    stop = CancelFlag()
    with ctx.tracking(stop):
        if ctx.cancelled:
            stop.cancel(ctx.cancel_reason)
        outcome = await run_workers(plan, count, _on_second(ctx, spec), stop.event)
    if stop.event.is_set():
        reason = stop.reason or ctx.cancel_reason
        log.line(f"load stopped: {reason}")
        return ProcessResult(Status.CANCELLED, None, reason)
    if outcome.crashed:
        log.line(outcome.crashed)
        return ProcessResult(Status.FAILED, FAILED, outcome.crashed)
    report = await asyncio.to_thread(_report, ctx, spec, outcome)
    written = await asyncio.to_thread(_keep, ctx, spec, report)
    for text in told(report):
        log.line(text)
    log.line("summary: " + "  junit: ".join(_shown(ctx, path) for path in written))
    if report.passed:
        return ProcessResult(Status.SUCCEEDED, 0, "")
    return ProcessResult(Status.FAILED, FAILED, report.reason())


def _on_second(ctx: StageContext, spec: LoadSpec):
    from cdtui.load.schedule import rate_at
    from cdtui.load.thresholds import judge

    stages = [(s.duration, s.target) for s in spec.stages]
    aborting = [
        (check, check.delay if check.delay is not None else spec.abort_delay)
        for check in spec.thresholds.checks()
        if check.abort_on_fail or spec.abort_on_fail
    ]

    def on_second(progress: Any) -> str | None:
        window, total = progress.window, progress.total
        latency = window.latency
        target = 0.0 if spec.vus else rate_at(spec.rate, stages, progress.second - 0.5)
        ctx.emit(
            LoadProgress(
                ctx.run_id,
                time.time(),
                ctx.phase,
                ctx.stage.name,
                ctx.attempt,
                progress.second,
                spec.total_duration,
                float(window.requests),
                target,
                window.failed_rate,
                latency.percentile(50),
                latency.percentile(95),
                latency.percentile(99),
                total.requests,
                total.failed,
                progress.cpu,
            )
        )
        for check, delay in aborting:
            if progress.second < delay:
                continue
            verdict = judge(check.expression, total, float(progress.second), None)
            if not verdict.passed:
                return f"abort_on_fail after {progress.second}s: {verdict.sentence()}"
        return None

    return on_second


def _report(ctx: StageContext, spec: LoadSpec, outcome: Any) -> Any:
    """Judge the outcome (each threshold, the generator's validity) and compare with the
    previous passing run of this stage."""
    from cdtui.load.compare import compare, previous_passing
    from cdtui.load.results import Report, metric_lines, regression_names
    from cdtui.load.schedule import arrival_count
    from cdtui.load.thresholds import judge, validity

    elapsed = outcome.elapsed or spec.total_duration
    verdicts = [judge(c.expression, outcome.total, elapsed, None) for c in spec.thresholds.checks()]
    for scenario in spec.scenarios:
        stats = outcome.by_label.get(scenario.label)
        if stats is not None:
            verdicts += [
                judge(c.expression, stats, elapsed, scenario.label)
                for c in scenario.thresholds.checks()
            ]
    dropped = 0
    if not spec.vus and not outcome.stopped:
        stages = [(s.duration, s.target) for s in spec.stages]
        dropped = max(0, arrival_count(spec.rate, stages, spec.total_duration) - outcome.sent)
    valid = validity(
        outcome.cpu,
        outcome.lag.percentile(99) if not spec.vus else 0.0,
        dropped,
        spec.max_cpu,
        spec.max_lag * 1000,
        outcome.workers,
        outcome.queued / outcome.sent if outcome.sent else 0.0,
        spec.connections,
    )
    report = Report(
        ctx.stage.name,
        spec.describe(),
        outcome.total,
        outcome.by_label,
        elapsed,
        verdicts,
        valid,
        outcome.workers,
        outcome.connections,
        stopped=outcome.stopped,
        max_regression=spec.max_regression,
    )
    previous_run, previous = previous_passing(
        ctx.state_dir / "runs.db", ctx.run_id, ctx.phase, ctx.stage.name
    )
    if previous_run is not None:
        current = {line.name: line.value for line in metric_lines(report)}
        report.previous_run = previous_run
        report.changes = compare(previous, current)
        if spec.max_regression is not None:
            held = regression_names(report)
            report.regressed = [
                c
                for c in report.changes
                if c.name in held
                and c.regression is not None
                and c.regression > spec.max_regression
            ]
    return report


def _keep(ctx: StageContext, spec: LoadSpec, report: Any) -> list[Path]:
    """The metrics file the engine records, the JSON summary and the JUnit report."""
    import json

    from cdtui.load.results import junit, metric_json, metric_lines, summary

    ctx.metrics.parent.mkdir(parents=True, exist_ok=True)
    lines = metric_lines(report)
    ctx.metrics.write_text("".join(metric_json(line) + "\n" for line in lines))
    base = str(ctx.metrics).removesuffix(".metrics.jsonl")
    summary_path = _where(ctx, spec.summary, base + ".load.json")
    junit_path = _where(ctx, spec.junit, base + ".junit.xml")
    for path in (summary_path, junit_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    mask = ctx.masker.mask_text  # a URL or an error may carry a secret
    summary_path.write_text(mask(json.dumps(summary(report), indent=2)) + "\n")
    junit_path.write_text(mask(junit(report)))
    return [summary_path, junit_path]


def _shown(ctx: StageContext, path: Path) -> str:
    """Relative to the project when inside it, as the operator wrote it."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ctx.project_dir))
    return str(path)


def _where(ctx: StageContext, setting: str | None, default: str) -> Path:
    return (ctx.project_dir / setting) if setting else Path(default)
