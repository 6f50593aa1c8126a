"""The ``recover`` action: immutable infrastructure. The idle colour is deployed from scratch with
the last good artifact (re-hashed: ``digest mismatch`` refuses a corrupt copy), checked until it
passes its ``preflight`` checks, and then takes all traffic at once.

"Last good" is what that colour last ran (it was live, and passed, before the latest release),
else the newest stored artifact, as ``cdtui rollback --redeploy`` chooses. It runs as the stage
``recover`` of a run of its own (``Session.recover``), so it has a log, a record and events like a
rollback. Where nothing can start (no artifact, a corrupt one, a failing deploy), it fails
saying so, and the monitor raises that loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, Status
from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind, register
from cdtui.stages.context import StageContext
from cdtui.stages.release import ReleaseLog, logged

RECOVER_STAGE = "recover"


class RecoverKind(StageKind):
    key = "recover"
    config = ReleaseSpec
    in_yaml = False  # made by Session.recover (a monitor's action), never written in a file

    def describe(self, spec: Any) -> str:
        return (
            f"recover via the {spec.router.kind} router: the idle colour deployed afresh "
            "from the last good artifact, then all traffic to it"
        )

    def keeps_outputs(self, stage: Any) -> bool:
        return False

    async def run(self, ctx: StageContext) -> ProcessResult:
        return await logged(ctx, self, _recover)


register(RecoverKind())


async def _recover(ctx: StageContext, log: ReleaseLog) -> ProcessResult:
    from cdtui.release.control import live_colour
    from cdtui.release.rollout import Rollout, State, other
    from cdtui.stages.rollback import redeploy_colour, steering

    spec: ReleaseSpec = ctx.stage.spec

    async def act(handle: Any, who: str, emit: Callable[[Event], None]) -> ProcessResult:
        actual = await handle.router.get_weights()
        live = live_colour(actual, handle.records)
        target = other(live)
        log.line(f"recover     {live} is live ({actual}): a fresh {target} takes over")
        failed = await redeploy_colour(ctx, spec, target, actual.of(target), log)
        if failed is not None:
            return ProcessResult(failed.status, failed.exit_code, f"recover: {failed.reason}")
        rollout = Rollout(
            spec,
            handle.router,
            handle.records,
            run_id=ctx.run_id,
            live=target,
            start=actual,
            emit=emit,
        )
        outcome = await rollout.to_live(
            State.ROLLED_BACK, f"recovered onto a fresh {target} (by {who})"
        )
        return ProcessResult(Status.SUCCEEDED, 0, outcome.reason)

    return await steering(ctx, log, act)


async def recover(
    session: Any,
    phase: str | None = None,
    *,
    via: str = "monitor",
    user: str | None = None,
    subscribers: Any = (),
) -> tuple[int, Status, str]:
    """The front door's recover (``Session.recover``): the stage ``recover`` of a run of its own;
    (run id, status, reason)."""
    from cdtui.config.models import Stage
    from cdtui.engine.engine import EngineOptions, _current_user
    from cdtui.engine.events import StageFinished
    from cdtui.engine.plan import PhasePlan, Plan

    found = session.release_phase(phase)
    if found is None or session.pipeline is None:
        raise ValueError("this pipeline has no release phase (a release: block)")
    name, spec = found
    stage = Stage.of_kind(RECOVER_STAGE, RECOVER_STAGE, spec)
    release = session.pipeline.phase(name).model_copy(update={"gate": None, "stages": [stage]})
    options = EngineOptions(user=user or _current_user(), overrides={"recover": {"via": via}})
    finished: list[StageFinished] = []
    watch = [*subscribers, lambda e: isinstance(e, StageFinished) and finished.append(e)]
    engine = session.engine_for(
        Plan((PhasePlan(release, (stage,), frozenset()),)), options, f"{via}: recover"
    )
    with session.observing(watch):
        status = await engine.run()
    last = finished[-1] if finished else None
    reason = last.reason if last is not None else engine.status.lower()
    return engine.run_id, status, reason
