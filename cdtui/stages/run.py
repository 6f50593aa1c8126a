"""The ``run`` kind: a command, in its own process group here or over SSH on ``on:`` hosts."""

from __future__ import annotations

import functools
import shutil
from typing import Any

from cdtui.config.models import Stage, shown_command
from cdtui.engine.events import Status
from cdtui.engine.interpolate import InterpolationError
from cdtui.runners.local import LocalProcess, ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import StageContext
from cdtui.stages.skip import LastLine, skipped_if_asked


@functools.cache
def _bash() -> str | None:
    return shutil.which("bash")


def shell_argv(script: str) -> list[str]:
    """Strings run like CI services run them: bash with errexit and pipefail, else sh -e."""
    bash = _bash()
    if bash:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["/bin/sh", "-ec", script]


def argv_of(command: str | list[str]) -> list[str]:
    return shell_argv(command) if isinstance(command, str) else list(command)


class RunKind(StageKind):
    """Its config is the stage's own fields: run, cwd, keep_children, on, strategy, upload."""

    key = "run"

    def describe(self, spec: Any) -> str:
        return "run"

    def keeps_outputs(self, stage: Stage) -> bool:
        return not stage.on  # remote stages' files live on their hosts

    async def run(self, ctx: StageContext) -> ProcessResult:
        if ctx.stage.on:
            from cdtui.stages.remote import run_remote

            hosts = ctx.pipeline.resolve_hosts(ctx.stage.on)
            return await run_remote(ctx, hosts)
        return await run_local(ctx)


async def run_local(ctx: StageContext) -> ProcessResult:
    stage = ctx.stage
    try:
        command = ctx.command()
    except InterpolationError as error:
        ctx.started(stage.command_text)
        return ProcessResult(Status.FAILED, None, str(error))
    argv = argv_of(command)
    cwd = (ctx.project_dir / stage.cwd) if stage.cwd else ctx.project_dir
    env = ctx.local_env()
    env["CDTUI_METRICS"] = str(ctx.metrics)
    output = ctx.output()
    last = LastLine()  # exit 77 skips the stage with its last line as the reason (stages/skip.py)

    def feed(stream: str, data: bytes, final: bool = False) -> None:
        last.feed(stream, data, final)
        output.feed(stream, data, final)

    process = LocalProcess(
        argv,
        cwd=str(cwd),
        env=env,
        on_output=feed,
        grace=ctx.grace,
        keep_children=stage.keep_children,
    )
    try:
        if not cwd.is_dir():
            raise NotADirectoryError(f"working directory {stage.cwd!r} does not exist")
        if not ctx.metrics.parent.is_dir():  # the engine made it with the handoff files
            ctx.metrics.parent.mkdir(parents=True, exist_ok=True)
        ctx.metrics.unlink(missing_ok=True)  # only this attempt's lines count
        pid = process.start()
    except OSError as error:
        ctx.started(stage.command_text)
        why = error.strerror or str(error)
        target = getattr(error, "filename", None) or argv[0]
        reason = (
            str(error) if isinstance(error, NotADirectoryError) else f"cannot start {target}: {why}"
        )
        return ProcessResult(Status.FAILED, None, reason)
    with ctx.tracking(process):
        ctx.started(shown_command(command), pid=pid)
        if ctx.cancelled:
            process.cancel(ctx.cancel_reason)
        result = await process.wait(timeout=stage.timeout)
    report_leftovers(ctx, result)
    return skipped_if_asked(result, last)


def report_leftovers(ctx: StageContext, result: ProcessResult, who: str = "") -> None:
    """Processes a finished command left behind were ended: say which, and how to keep them."""
    if result.ended_leftovers:
        pids = ", ".join(map(str, result.ended_leftovers))
        ctx.notice(
            "warning",
            f"{who}ended {len(result.ended_leftovers)} leftover process(es) of the stage ({pids}); "
            "set keep_children: true to keep them running",
        )
    if result.survivors:
        ctx.notice("error", f"{who}processes survived SIGKILL: {result.survivors}")
