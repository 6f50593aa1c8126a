"""``steps:`` inside a stage: named commands run in sequence in one workspace.

Each step is its own process (same cwd, env and files), with a status, a duration and a section
of the stage's log between ``── step N/M: name ──`` lines; ``StepStarted``/``StepFinished`` let the
tree show steps as children. A failing step ends the stage unless it says ``continue_on_error``;
lines a step appends to ``$CDTUI_ENV`` are in the environment of the steps after it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.config.models import shown_command
from cdtui.engine.events import Status, StepFinished, StepStarted
from cdtui.runners.local import LocalProcess, ProcessResult

if TYPE_CHECKING:
    from cdtui.config.steps import Step
    from cdtui.stages.context import StageContext


def _section(ctx: StageContext, text: str) -> None:
    sink = ctx.output()
    sink.feed("stdout", f"── {text} ──\n".encode())
    sink.feed("stdout", b"", final=True)


async def run_steps(ctx: StageContext) -> ProcessResult:
    from cdtui.engine.interpolate import InterpolationError, expand_command
    from cdtui.engine.outputs import parse_file
    from cdtui.stages.run import argv_of, report_leftovers

    stage = ctx.stage
    steps: list[Step] = stage.spec.steps
    cwd = (ctx.project_dir / stage.cwd) if stage.cwd else ctx.project_dir
    env = ctx.local_env()
    env["CDTUI_METRICS"] = str(ctx.metrics)
    ctx.metrics.parent.mkdir(parents=True, exist_ok=True)
    ctx.metrics.unlink(missing_ok=True)
    ctx.started(stage.command_text)
    deadline = time.monotonic() + stage.timeout if stage.timeout else None
    where = (ctx.run_id, ctx.phase, stage.name, ctx.attempt)
    outcome = ProcessResult(Status.SUCCEEDED, 0, "")
    failed_at = ""
    for index, step in enumerate(steps):
        head = (*where[:1], time.time(), *where[1:], step.name, index)
        if failed_at or ctx.cancelled:
            why = f"step {failed_at!r} failed" if failed_at else f"run {ctx.cancel_reason}"
            ctx.emit(StepFinished(*head, Status.SKIPPED, None, 0.0, why))
            continue
        _section(ctx, f"step {index + 1}/{len(steps)}: {step.name}")
        began = time.monotonic()
        try:
            command = expand_command(step.run, ctx.values)
        except InterpolationError as error:
            result = ProcessResult(Status.FAILED, None, str(error))
        else:
            ctx.emit(StepStarted(*head, ctx.masker.mask_text(shown_command(command))))
            result = await _one(ctx, argv_of(command), cwd, {**env, **step.env}, step, deadline)
            report_leftovers(ctx, result, f"step {step.name}: ")
        took = time.monotonic() - began
        if result.status is Status.FAILED and result.exit_code is None and not result.reason:
            result = ProcessResult(Status.FAILED, None, "failed")
        ctx.emit(
            StepFinished(
                where[0],
                time.time(),
                *where[1:],
                step.name,
                index,
                result.status,
                result.exit_code,
                took,
                ctx.masker.mask_text(result.reason),
            )
        )
        _section(ctx, f"step {step.name} {result.status.lower()} in {took:.2f}s")
        exported = parse_file(Path(env.get("CDTUI_ENV", "/nonexistent")), "", env=True)
        env.update(exported.values)
        if result.status is Status.SUCCEEDED or (
            step.continue_on_error and result.status in (Status.FAILED, Status.TIMED_OUT)
        ):
            continue
        failed_at = step.name
        reason = f"step {step.name!r}: {result.reason}" if result.reason else step.name
        outcome = ProcessResult(result.status, result.exit_code, reason)
    return outcome


async def _one(
    ctx: StageContext,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    step: Step,
    deadline: float | None,
) -> ProcessResult:
    limits = [t for t in (step.timeout, deadline and deadline - time.monotonic()) if t]
    timeout = max(0.0, min(limits)) if limits else None
    process = LocalProcess(
        argv,
        cwd=str(cwd),
        env=env,
        on_output=ctx.output().feed,
        grace=ctx.grace,
        keep_children=ctx.stage.keep_children,
    )
    try:
        process.start()
    except OSError as error:
        target = getattr(error, "filename", None) or argv[0]
        return ProcessResult(Status.FAILED, None, f"cannot start {target}: {error.strerror}")
    with ctx.tracking(process):
        if ctx.cancelled:
            process.cancel(ctx.cancel_reason)
        return await process.wait(timeout=timeout)
