"""The ``cloudformation`` kind: create or update a stack through a change set (its changes in the
log before it runs), stream the stack's events as they happen, publish its outputs as
``${stack.KEY}``; or ``delete: true``. Cancel stops waiting and says the stack's state: the
operation itself carries on in CloudFormation. boto3 loads only when a run reaches the stage.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from cdtui.config.infra import CloudFormationSpec
from cdtui.engine.events import Notice, Status
from cdtui.engine.interpolate import InterpolationError, expand
from cdtui.infra.cfn import CfnError
from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import CancelFlag, LineLog, StageContext


class CloudFormationKind(StageKind):
    key = "cloudformation"
    config = CloudFormationSpec

    def describe(self, spec: Any) -> str:
        return spec.describe()

    def keeps_outputs(self, stage: Any) -> bool:
        return bool(stage.artifacts)

    async def run(self, ctx: StageContext) -> ProcessResult:
        spec: CloudFormationSpec = ctx.stage.spec
        ctx.started(spec.describe())
        out = LineLog(ctx)
        try:
            return await _Operation(ctx, spec, out).run()
        except (CfnError, InterpolationError, OSError) as error:
            out.line(f"error: {error}")
            return ProcessResult(Status.FAILED, None, str(error))


class _Operation:
    def __init__(self, ctx: StageContext, spec: CloudFormationSpec, out: LineLog) -> None:
        self.ctx, self.spec, self.out = ctx, spec, out
        self.seen: list[dict[str, Any]] = []
        self.wake = CancelFlag()

    def _expand(self, text: str) -> str:
        return expand(text, self.ctx.values, shell=False)

    async def run(self) -> ProcessResult:
        from cdtui.infra.cfn import Stack

        spec, ctx = self.spec, self.ctx
        stack = await asyncio.to_thread(
            Stack, spec.stack, spec.region, spec.endpoint_url, spec.profile
        )
        with ctx.tracking(self.wake):
            if ctx.cancelled:
                self.wake.cancel(ctx.cancel_reason)
            if spec.delete:
                return await self._delete(stack)
            return await self._change(stack)

    async def _change(self, stack: Any) -> ProcessResult:
        """Make (or take the reviewed) change set, show it, then execute it unless told not to."""
        from cdtui.infra.cfn_events import change_lines

        spec = self.spec
        if spec.change_set:
            name = self._expand(spec.change_set)
            self.out.line(f"reviewed change set {name} for stack {spec.stack}")
            change_set = await asyncio.to_thread(stack.reviewed, name)
        else:
            template, parameters, tags = self._inputs()
            self.out.line(f"change set for stack {spec.stack} from {template.name}")
            change_set = await asyncio.to_thread(
                stack.change_set, template, parameters, tags, list(spec.capabilities)
            )
        if change_set.empty:
            self.out.line(f"no changes: stack {spec.stack} is up to date")
            await self._publish(stack)
            return ProcessResult(Status.SUCCEEDED, 0, "no changes")
        self.out.line(f"{change_set.kind} {spec.stack}: {len(change_set.changes)} change(s)")
        for line in change_lines(change_set.changes):
            self.out.line(line)
        if not spec.execute:
            self.out.line(
                f"not executed (execute: false): change set {change_set.name} waits; a later "
                "stage applies it with change_set: ${stages.NAME.outputs.change_set}"
            )
            self.ctx.publish(
                "stages", self.ctx.stage.name, {"outputs": {"change_set": change_set.name}}
            )
            return ProcessResult(Status.SUCCEEDED, 0, "")
        if self.wake.event.is_set():
            return ProcessResult(
                Status.CANCELLED, None,
                f"{self.wake.reason}: change set {change_set.name} was not executed; stack "
                f"{spec.stack} unchanged",
            )  # fmt: skip
        cursor = await asyncio.to_thread(stack.newest_event_id)
        self.out.line(f"executing change set {change_set.name}")
        await asyncio.to_thread(stack.execute, change_set)
        return await self._follow(stack, cursor, len(change_set.changes), success_publish=True)

    def _inputs(self) -> tuple[Path, dict[str, str], dict[str, str]]:
        spec = self.spec
        assert spec.template is not None
        template = Path(self._expand(spec.template))
        if not template.is_absolute():
            template = self.ctx.project_dir / template
        if not template.is_file():
            raise CfnError(f"template {spec.template} not found ({template})")
        parameters = {k: self._scalar(v) for k, v in spec.parameters.items()}
        return template, parameters, {k: self._expand(v) for k, v in spec.tags.items()}

    def _scalar(self, value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return self._expand(str(value))

    async def _delete(self, stack: Any) -> ProcessResult:
        found = await asyncio.to_thread(stack.describe)
        if found is None:
            self.out.line(f"stack {self.spec.stack} does not exist: nothing to delete")
            return ProcessResult(Status.SUCCEEDED, 0, "")
        total = await asyncio.to_thread(stack.resource_count)
        cursor = await asyncio.to_thread(stack.newest_event_id)
        self.out.line(f"deleting stack {self.spec.stack} ({total} resources)")
        await asyncio.to_thread(stack.delete)
        return await self._follow(stack, cursor, total, success_publish=False)

    async def _follow(
        self, stack: Any, cursor: str | None, total: int, *, success_publish: bool
    ) -> ProcessResult:
        """Events as they happen until the stack rests; cancel and timeout stop the wait."""
        from cdtui.infra.cfn_events import SUCCESS, Progress, event_line, failure, terminal

        ctx, spec = self.ctx, self.spec
        progress = Progress(total, stack=spec.stack)
        wake = self.wake
        deadline = None if ctx.timeout is None else time.monotonic() + ctx.timeout
        while True:
            status = await asyncio.to_thread(stack.status)
            fresh = await asyncio.to_thread(stack.events_since, cursor)
            for event in fresh:
                cursor = event["EventId"]
                self.seen.append(event)
                self.out.line(event_line(event))
                if progress.see(event):
                    self._progress(progress)
            if terminal(status):
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._stopped(Status.TIMED_OUT, f"timed out after {ctx.timeout:g}s", status)
            try:
                wait = spec.poll if left is None else min(spec.poll, left)
                await asyncio.wait_for(wake.event.wait(), timeout=wait)
            except TimeoutError:
                continue
            return self._stopped(Status.CANCELLED, wake.reason or "cancelled", status)
        if status in SUCCESS:
            progress.done.update(f"#{n}" for n in range(total))  # every resource at rest
            self._progress(progress)
            self.out.line(f"stack {spec.stack} {status}")
            if success_publish:
                await self._publish(stack)
            return ProcessResult(Status.SUCCEEDED, 0, "")
        reason = failure(spec.stack, status, self.seen)
        self.out.line(f"failed: {reason}")
        return ProcessResult(Status.FAILED, None, reason)

    def _stopped(self, status: Status, why: str, stack_status: str) -> ProcessResult:
        said = (
            f"{why}: stopped waiting; stack {self.spec.stack} is {stack_status} "
            "(CloudFormation carries on with it)"
        )
        self.out.line(said)
        return ProcessResult(status, None, said)

    def _progress(self, progress: Any) -> None:
        done = min(len(progress.done), progress.total)
        shown = f"{done}/{progress.total} resources"
        progress_notice(self.ctx, f"{self.spec.stack}: {progress.text()}", shown)

    async def _publish(self, stack: Any) -> None:
        outputs = await asyncio.to_thread(stack.outputs)
        for key, value in outputs.items():
            self.ctx.publish("stack", key, value)
            self.out.line(f"output {key} = {value}")
        self.ctx.publish("stages", self.ctx.stage.name, {"outputs": dict(outputs)})


def progress_notice(ctx: StageContext, text: str, progress: str) -> None:
    """A progress line for the tree and headless: ``extra["progress"]`` is ``done/total``."""
    ctx.emit(
        Notice(
            ctx.run_id,
            time.time(),
            "info",
            ctx.masker.mask_text(text),
            ctx.phase,
            ctx.stage.name,
            extra={"progress": progress},
        )
    )
