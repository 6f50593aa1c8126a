"""One attempt of a stage around its kind: the context it gets, and what the engine keeps of it
afterwards (metrics and artifacts), whatever its kind."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdtui.config.models import Stage
from cdtui.engine.events import ArtifactStored, MetricRecorded, Status
from cdtui.engine.interpolate import InterpolationError, expand
from cdtui.runners.local import ProcessResult
from cdtui.store.artifacts import ArtifactError, metrics_path, read_metrics

if TYPE_CHECKING:
    from cdtui.engine.engine import Engine
    from cdtui.stages.context import Cancellable, StageContext


async def keep_outputs(ctx: StageContext, result: ProcessResult) -> ProcessResult:
    """Record the attempt's metrics (whatever its status) and, if it succeeded, its artifacts.

    File work runs in a thread: a large artifact must not stall other stages' output.
    """
    stage = ctx.stage
    found, warnings = [], []
    if ctx.metrics.exists():  # most stages write none: no thread hop for them
        shown = str(ctx.metrics)  # the state dir may be outside the project: then as it is
        with contextlib.suppress(ValueError):
            shown = str(ctx.metrics.relative_to(ctx.project_dir))

        def read_and_mask() -> tuple[list, list[str]]:
            read = read_metrics(ctx.metrics, shown)
            ctx.masker.mask_file(ctx.metrics)  # it is kept beside the log
            return read

        found, warnings = await asyncio.to_thread(read_and_mask)
    for text in warnings:
        ctx.notice("warning", text)
    mask = ctx.masker.mask_text
    where = (ctx.run_id, time.time(), ctx.phase, stage.name, ctx.attempt)
    for m in found:
        ctx.emit(
            MetricRecorded(*where, mask(m.name), m.value, mask(m.unit), m.threshold, m.op, m.ok)
        )
    if result.status is not Status.SUCCEEDED or not stage.artifacts:
        return result
    from cdtui.artifacts.backends import open_repository
    from cdtui.artifacts.keep import Where, keep, value_of
    from cdtui.release.context import head_commit

    cwd = (ctx.project_dir / stage.cwd) if stage.cwd else ctx.project_dir
    repository = open_repository(ctx.pipeline.artifacts, ctx.state_dir)
    try:
        entries = _expanded(stage.artifacts, ctx.values)
    except InterpolationError as error:
        return ProcessResult(Status.FAILED, result.exit_code, f"artifacts: {error}")

    def keep_all() -> list:
        commit = head_commit(ctx.home)  # (a clean checkout may be no repository)
        at = Where(ctx.run_id, ctx.phase, stage.name, ctx.attempt)
        return keep(entries, cwd, ctx.project_dir, repository, at, commit, ctx.home)

    try:
        kept_all = await asyncio.to_thread(keep_all)
    except ArtifactError as error:
        return ProcessResult(Status.FAILED, result.exit_code, str(error))
    for item in kept_all:
        kept = item.stored
        if kept.replaced:
            ctx.notice("warning", mask(kept.replaced))
        ctx.emit(ArtifactStored(*where, mask(kept.path), kept.sha256, kept.size))
        if item.name:  # ${artifacts.NAME.path|sha256|size} for the stages after it
            ctx.publish("artifacts", item.name, value_of(item))
    return result


def _expanded(entries: list, values: dict) -> list:
    """Each entry's path with its ``${…}`` references read (``out/cov-${matrix.python}.xml``:
    each leg keeps its own file of a shared workspace), as the stage's command reads them."""
    return [
        e.model_copy(update={"path": expand(e.path, values, shell=False)}) if "${" in e.path else e
        for e in entries
    ]


def stage_context(engine: Engine, phase: str, stage: Stage, attempt: int) -> StageContext:
    """The attempt's view of its run: cancel reaches what it tracks, its live handle is offered
    to front ends (``Engine.control_of``), its output and events go to the run's bus."""
    from cdtui.stages.context import StageContext

    key = (phase, stage.name)
    running, controls = engine._running, engine._controls

    def track(thing: Cancellable) -> Callable[[], None]:
        things = running.setdefault(key, [])
        things.append(thing)
        if engine._cancelled.is_set():
            thing.cancel(engine._cancel_reason)

        def untrack() -> None:
            if thing in things:
                things.remove(thing)
            if not things:
                running.pop(key, None)

        return untrack

    def offer(handle: Any) -> None:
        if handle is None:
            controls.pop(stage.name, None)
        else:
            controls[stage.name] = handle

    state = engine.state_dir
    values = engine.scope.values(matrix=stage.matrix_values)
    if stage.from_ is not None:  # an earlier run's named artifacts, fetched when first read
        from cdtui.artifacts.backends import open_repository
        from cdtui.artifacts.earlier import artifacts_from

        repository = open_repository(engine.pipeline.artifacts, state)
        values["artifacts"] = artifacts_from(
            engine.project_dir, stage.from_, repository, engine.run_id
        )
    return StageContext(
        run_id=engine.run_id,
        phase=phase,
        stage=stage,
        attempt=attempt,
        pipeline=engine.pipeline,
        project_dir=engine.project_dir,
        state_dir=state,
        env=engine.stage_env(phase, stage, attempt),
        environ=engine.environ,
        masker=engine.masker,
        emit=engine.bus.emit,
        cancel_signal=engine._cancelled,
        metrics=metrics_path(engine.logs_dir, engine.run_id, phase, stage.name, attempt),
        user=engine.options.user,
        overrides=dict(engine.options.overrides.get(stage.kind, {})),
        values=values,
        _publish=engine.scope.publish,
        _cancel_reason=lambda: engine._cancel_reason,
        _track=track,
        _ssh_pool=engine.ssh_pool,
        _offer=offer,
        _home=engine.project_dir,
    )
