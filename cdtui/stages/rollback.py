"""The ``rollback`` kind: all traffic back, at once, on the colour live before the latest release.

Every front end's rollback is this stage of a run of its own (``cdtui rollback``, the console's
``b``), so it has a log, a record and the bus's events like any stage. It takes the router from a
release in progress (``release.preempt``), refuses to move users onto a colour that fails its
health check unless told ``force``, and with ``redeploy`` first deploys that colour with the bytes
it last ran and waits until it is healthy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, Status
from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import StageContext
from cdtui.stages.release import REFUSED, ReleaseLog, deploy_colour, logged

ROLLBACK_STAGE = "rollback"


class RollbackKind(StageKind):
    key = "rollback"
    config = ReleaseSpec
    in_yaml = False  # made by Session.rollback, never written in a pipeline file

    def describe(self, spec: Any) -> str:
        return f"rollback via the {spec.router.kind} router: all traffic to the previous colour"

    def keeps_outputs(self, stage: Any) -> bool:
        return False

    async def run(self, ctx: StageContext) -> ProcessResult:
        return await logged(ctx, self, _rollback)


def refused(reason: str) -> ProcessResult:
    return ProcessResult(Status.FAILED, REFUSED, reason)


async def steering(
    ctx: StageContext,
    log: ReleaseLog,
    act: Callable[[Any, str, Callable[[Event], None]], Awaitable[ProcessResult]],
) -> ProcessResult:
    """``act(handle, who, emit)`` holding the router (taken from a release in progress): what a
    rollback and a recover share. A lock held elsewhere is a refusal; router and release errors
    fail the stage with their words."""
    from cdtui.release.preempt import preempting
    from cdtui.release.rollout import ReleaseError
    from cdtui.release.routers import RouterError
    from cdtui.store.releases import ReleaseLocked

    spec: ReleaseSpec = ctx.stage.spec
    who = f"{ctx.user or 'someone'} via {ctx.overrides.get('via', 'cdtui')}"

    def emit(event: Event) -> None:
        ctx.emit(event)
        log.event(event)

    try:
        async with preempting(spec, ctx.home, who, told=log.line) as handle:
            return await act(handle, who, emit)
    except ReleaseLocked as exc:
        return refused(str(exc))
    except (ReleaseError, RouterError) as exc:
        return ProcessResult(Status.FAILED, None, str(exc))


async def _rollback(ctx: StageContext, log: ReleaseLog) -> ProcessResult:
    from cdtui.release.control import rollback, rollback_target
    from cdtui.release.rollout import all_on

    spec: ReleaseSpec = ctx.stage.spec
    force, redeploy = bool(ctx.overrides.get("force")), bool(ctx.overrides.get("redeploy"))

    async def act(handle: Any, who: str, emit: Callable[[Event], None]) -> ProcessResult:
        actual = await handle.router.get_weights()
        last = handle.records.last_state()
        target = rollback_target(actual, last)
        if last is None and actual == all_on(target):
            return refused(f"nothing to roll back: no release recorded and {actual} in force")
        if not force and actual != all_on(target):
            problem = await _unhealthy(spec, target, log)
            if problem and not redeploy:
                return refused(_refusal(target, problem, actual.of(target)))
            if problem:
                failed = await redeploy_colour(ctx, spec, target, actual.of(target), log)
                if failed:
                    return failed
        outcome = await rollback(handle, run_id=ctx.run_id, emit=emit)
        return ProcessResult(Status.SUCCEEDED, 0, f"{outcome.reason} (by {who})")

    return await steering(ctx, log, act)


async def _unhealthy(spec: ReleaseSpec, colour: str, log: ReleaseLog) -> str:
    """'' when ``colour`` passes a health check (one retry after an interval), else why not."""
    from cdtui.release.health import probe

    url = getattr(spec, colour).url
    for attempt in range(2):
        sample = await probe(colour, url, spec.health)
        if sample.ok:
            log.line(f"healthy     {colour} ({sample.latency_ms:.0f} ms): rolling back onto it")
            return ""
        if attempt == 0:
            await asyncio.sleep(spec.health.interval)
    log.line(f"unhealthy   {colour}: {sample.error}", "stderr")
    return sample.error or f"HTTP {sample.status}"


def _refusal(target: str, problem: str, serving: int) -> str:
    redeploy = (
        f"`cdtui rollback --redeploy` deploys {target} again with the bytes it last ran, waits "
        "until it is healthy, then rolls back"
        if serving == 0
        else f"{target} serves {serving}% now, so it is not redeployed: fix it in place"
    )
    return (
        f"refused: rollback target {target} is UNHEALTHY ({problem}); moving users onto it "
        f"would serve them errors. Ways out: {redeploy}; `cdtui rollback --force` moves the "
        "traffic anyway. Nothing was changed."
    )


async def redeploy_colour(
    ctx: StageContext, spec: ReleaseSpec, target: str, serving: int, log: ReleaseLog
) -> ProcessResult | None:
    """Deploy ``target`` with what it last ran, then wait for its preflight checks."""
    from cdtui.release.health import probe
    from cdtui.release.rollout import preflight_limit

    colour = getattr(spec, target)
    if serving:
        return refused(f"refused: {target} serves {serving}% of traffic: it is never redeployed")
    if colour.deploy is None:
        return refused(
            f"refused: nothing deploys {target} ({target}.deploy is not set in the release block)"
        )
    artifact = await asyncio.to_thread(_last_ran, ctx, target)
    failed = await deploy_colour(ctx, target, colour, log, artifact)
    if failed:
        return ProcessResult(Status.FAILED, None, failed)
    need, interval = spec.health.preflight, spec.health.interval
    limit = preflight_limit(need, interval, spec.health.timeout)
    deadline = asyncio.get_running_loop().time() + limit
    passed = 0
    while passed < need:
        sample = await probe(target, colour.url, spec.health)
        passed = passed + 1 if sample.ok else 0
        if asyncio.get_running_loop().time() > deadline:
            return ProcessResult(
                Status.FAILED, None, f"redeployed {target} is still unhealthy: {sample.error}"
            )
        if passed < need:
            await asyncio.sleep(interval)
    log.line(f"healthy     {target} after its redeploy ({need} checks in a row)")
    return None


def _last_ran(ctx: StageContext, colour: str) -> Any:
    """(path, sha256, run, stored copy) of what ``colour`` last ran, else the newest artifact."""
    from cdtui.release.deployments import latest, release_artifact

    deployment = latest(ctx.home).get(colour)
    newest = release_artifact(ctx.home, verify=False)  # deploy_colour verifies
    if deployment is None or newest is None:
        return newest
    stored = newest[3].with_name(deployment.sha256)
    if not stored.is_file():
        return newest
    return deployment.artifact, deployment.sha256, deployment.built_by, stored
