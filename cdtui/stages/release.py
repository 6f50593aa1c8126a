"""The ``release`` kind: a phase's ``release:`` block runs as its one stage ``release``: deploy the
idle colour, then the rollout, its events on the run's stream. A cancelled run gives all traffic
back to live. The release package loads only when a run reaches this stage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, Status
from cdtui.engine.output import OutputSink
from cdtui.release.events import HealthSampled, ReleaseStateChanged, WeightChanged
from cdtui.runners.local import LocalProcess, ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import StageContext

if TYPE_CHECKING:
    from cdtui.config.models import Pipeline
    from cdtui.release.context import Refusal
    from cdtui.release.rollout import Rollout

FAILED_CHECKS_TOLD = 3
"""Failed checks in a row of one colour written to the release log before it goes quiet."""
REFUSED = 2
"""The release stage's exit code when it refused to act (nothing was changed), as cdtui's own."""
RELEASE_STAGE = "release"
"""The release shows as one stage of its phase, so the tree, history and ``cdtui logs`` show it."""


def describe(spec: ReleaseSpec) -> str:
    """The release stage's command line, as the tree and history show it."""
    return spec.describe()


class ReleaseKind(StageKind):
    key = "release"
    config = ReleaseSpec
    in_yaml = False  # written as a phase's release: block, never as a stage key

    def describe(self, spec: Any) -> str:
        return describe(spec)

    def keeps_outputs(self, stage: Any) -> bool:
        return False

    async def run(self, ctx: StageContext) -> ProcessResult:
        return await logged(ctx, self, _release)


async def logged(
    ctx: StageContext,
    kind: StageKind,
    body: Callable[[StageContext, ReleaseLog], Awaitable[ProcessResult]],
) -> ProcessResult:
    """A release-like stage: its timestamped log, and a verdict that ends it even on a crash."""
    log = ReleaseLog(ctx.output())
    ctx.started(kind.describe(ctx.stage.spec))
    result = ProcessResult(Status.FAILED, None, f"{kind.key} crashed")
    try:
        result = await body(ctx, log)
    except BaseException as exc:  # the stage still ends on record
        result.reason = f"{kind.key} crashed: {type(exc).__name__}: {exc}"
        raise
    finally:
        log.verdict(result.status, result.reason)
    return result


class ReleaseLog:
    """The release stage's log: timestamped lines through the stage's masking output sink."""

    def __init__(self, sink: OutputSink) -> None:
        self.sink = sink
        self.failing: dict[str, int] = {}  # colour -> failed checks in a row
        self._partial: dict[str, bytes] = {}
        self.said = ""  # the last state's reason, so the verdict is not written twice

    def verdict(self, status: Status, reason: str) -> None:
        """The stage's last line: its status, and its reason unless the log just said it."""
        told = not reason or reason in self.said
        self.line(status.lower() if told else f"{status.lower()}: {reason}")

    def line(self, text: str, stream: str = "stdout") -> None:
        clock = time.strftime("%H:%M:%S")
        for part in text.splitlines() or [""]:
            self.sink.feed(stream, f"{clock} {part}\n".encode())

    def output(self, stream: str, data: bytes) -> None:
        """A deploy's output as it arrives, each whole line timestamped; order is kept."""
        data = self._partial.pop(stream, b"") + data
        *lines, rest = data.split(b"\n")
        if rest:
            self._partial[stream] = rest
        clock = time.strftime("%H:%M:%S").encode()
        for line in lines:
            self.sink.feed(stream, clock + b"   | " + line + b"\n")

    def end_output(self) -> None:
        for stream, rest in list(self._partial.items()):
            self.output(stream, b"\n")
            self._partial.pop(stream, None)
            del rest

    def event(self, event: Event) -> None:
        if isinstance(event, ReleaseStateChanged):
            self.said = event.reason
            self.line(f"{event.state:<11} {event.step:>3}%  {event.reason}")
        elif isinstance(event, WeightChanged) and event.applied:
            self.line(f"weights     blue {event.blue}% / green {event.green}% (read back)")
        elif isinstance(event, HealthSampled):
            self._health(event)

    def _health(self, event: HealthSampled) -> None:
        """Each failed check of a colour that was passing, then one line when it passes again:
        a colour that stays down is told once, not twice a second."""
        failing = self.failing.get(event.colour, 0)
        if not event.ok:
            self.failing[event.colour] = failing + 1
            if failing < FAILED_CHECKS_TOLD:
                self.line(f"unhealthy   {event.colour}: {event.error}", "stderr")
            elif failing == FAILED_CHECKS_TOLD:
                self.line(
                    f"unhealthy   {event.colour}: still failing (told once more when it passes)",
                    "stderr",
                )
        elif failing:
            self.failing[event.colour] = 0
            self.line(f"healthy     {event.colour} again after {failing} failed check(s)")


_LEVELS = {"aborted": "error", "failed": "error"}


async def _release(ctx: StageContext, log: ReleaseLog) -> ProcessResult:
    from cdtui.release.autostart import ensure_embedded_router
    from cdtui.release.control import key_of, locked, prepare
    from cdtui.release.preempt import abort_when_asked
    from cdtui.release.rollout import ReleaseError, State
    from cdtui.release.routers import RouterError
    from cdtui.store.releases import ReleaseLocked

    spec: ReleaseSpec = ctx.stage.spec
    reached = [0]  # the last step with traffic: where an abort happened (its event says 0)

    def emit(event: Event) -> None:
        ctx.emit(event)
        log.event(event)
        if isinstance(event, ReleaseStateChanged):
            level = _LEVELS.get(event.state, "info")
            step = event.step or reached[0]
            reached[0] = step
            if level != "info":  # progress is in the release log; problems also stand out
                ctx.notice(level, f"release {event.state} at {step}%: {event.reason}")

    refusal = await asyncio.to_thread(untested_refusal, ctx.home, ctx.pipeline, ctx.phase)
    if refusal is not None:
        return ProcessResult(Status.FAILED, REFUSED, f"refused: {refusal.why}. {refusal.fix}")
    try:
        started = await ensure_embedded_router(spec, ctx.home)
        if started:
            log.line(started)
        began = time.time()  # an abort request from before this release is not for it
        async with locked(spec, ctx.home) as handle:
            rollout, note = await prepare(
                handle,
                run_id=ctx.run_id,
                emit=emit,
                reconcile=bool(ctx.overrides.get("reconcile")),
                steps=ctx.overrides.get("steps"),
            )
            if note:  # in the log once: headless and the console show the log
                log.line(f"note: {note}")
            colour = spec.green if rollout.idle == "green" else spec.blue
            serving = rollout.weights.of(rollout.idle)
            if colour.deploy is not None and serving > 0:  # never restart what serves users
                log.line(
                    f"not deploying idle {rollout.idle}: it serves {serving}% of traffic (the "
                    f"release resumes from {serving}%); a deploy now would cut those requests"
                )
            elif colour.deploy is not None:
                failed = await deploy_colour(ctx, rollout.idle, colour, log)
                if failed:
                    return ProcessResult(Status.FAILED, None, failed)
            ctx.offer(rollout)
            asked = asyncio.create_task(
                abort_when_asked(
                    ctx.home,
                    key_of(spec.router),
                    began,
                    lambda why: rollout.abort(why, rollback=True),
                )
            )
            try:
                with ctx.tracking(_Abort(rollout)):
                    if ctx.cancelled:
                        rollout.abort(f"run {ctx.cancel_reason}")
                    outcome = await rollout.run()
            finally:
                asked.cancel()
                ctx.offer(None)
    except (ReleaseError, ReleaseLocked) as exc:
        return ProcessResult(Status.FAILED, REFUSED, str(exc))
    except RouterError as exc:
        return ProcessResult(Status.FAILED, None, str(exc))
    if ctx.cancelled:
        return ProcessResult(Status.CANCELLED, None, outcome.reason)
    if outcome.state is State.DONE:
        from cdtui.release.context import head_commit
        from cdtui.release.events import CommitReleased

        commit = await asyncio.to_thread(head_commit, ctx.home)
        if commit:  # the store keeps it: the next release lists what changed since
            ctx.emit(CommitReleased(ctx.run_id, time.time(), commit))
    status = Status.SUCCEEDED if outcome.state is State.DONE else Status.FAILED
    return ProcessResult(status, None, outcome.reason)


def untested_refusal(project_dir: Path, pipeline: Pipeline, phase: str) -> Refusal | None:
    """Why the newest stored artifact may not be released (no run tested it), else None."""
    from cdtui.release.context import tested_bytes
    from cdtui.store import RunStore, store_exists

    if not store_exists(project_dir):
        return None
    with RunStore(project_dir) as store:
        return tested_bytes(store, pipeline, phase).refusal


class _Abort:
    """The run's cancel (or the stage's) aborts the rollout: all traffic back to live."""

    def __init__(self, rollout: Rollout) -> None:
        self.rollout = rollout

    def cancel(self, reason: str = "cancelled") -> None:
        self.rollout.abort(f"run {reason}")


async def deploy_colour(
    ctx: StageContext, colour: str, spec: Any, log: ReleaseLog, artifact: Any = None
) -> str:
    """Run the idle colour's deploy command in the project; '' when it succeeded.

    It runs like any local stage command (its own process group, output streamed live into the
    release log, a timeout, cancel with the grace period) but keeps what it starts running: a
    deploy starts the service it deploys. It learns the colour and where it must answer
    (CDTUI_COLOUR, CDTUI_COLOUR_URL), and the stored artifact to ship (CDTUI_ARTIFACT,
    CDTUI_ARTIFACT_SHA256, CDTUI_ARTIFACT_NAME)."""
    from cdtui.artifacts.release import release_artifact
    from cdtui.release.events import ColourDeployed
    from cdtui.stages.run import argv_of, report_leftovers
    from cdtui.store.artifacts import ArtifactError, verify_stored

    deploy = spec.deploy
    env = ctx.local_env()
    env.update(CDTUI_COLOUR=colour, CDTUI_COLOUR_URL=spec.url)
    try:  # the stored copy is re-hashed before the deploy gets it
        if artifact is None:
            artifact = await asyncio.to_thread(release_artifact, ctx.home, ctx.pipeline)
        else:
            await asyncio.to_thread(verify_stored, artifact[3], artifact[1])
    except ArtifactError as error:
        return f"deploy of idle {colour} refused: {error}: traffic unchanged"
    if artifact is not None:
        name, digest, built_by, stored = artifact
        env.update(CDTUI_ARTIFACT=str(stored), CDTUI_ARTIFACT_SHA256=digest)
        env["CDTUI_ARTIFACT_NAME"] = name
        log.line(f"artifact {name} sha256:{digest} (stored by run #{built_by}): $CDTUI_ARTIFACT")
    shown = ctx.masker.mask_text(deploy if isinstance(deploy, str) else " ".join(deploy))
    log.line(f"deploying idle {colour}: $ {shown}")
    process = LocalProcess(
        argv_of(deploy),
        cwd=str(ctx.project_dir),
        env=env,
        on_output=log.output,
        grace=ctx.grace,
        keep_children=spec.keep_children,
    )
    try:
        process.start()
    except OSError as exc:
        return f"cannot start the deploy of idle {colour}: {exc.strerror or exc}"
    with ctx.tracking(process):
        if ctx.cancelled:
            process.cancel(ctx.cancel_reason)
        result = await process.wait(timeout=spec.deploy_timeout)
    log.end_output()
    report_leftovers(ctx, result, "deploy: ")
    if result.status is Status.CANCELLED:
        return f"deploy of idle {colour} cancelled: run {result.reason}: traffic unchanged"
    if result.status is Status.TIMED_OUT:
        return f"deploy of idle {colour} {result.reason}: traffic unchanged"
    if result.status is not Status.SUCCEEDED:
        return f"deploy of idle {colour} failed (exit {result.exit_code}): traffic unchanged"
    if artifact is not None:
        name, digest, built_by, _ = artifact  # the store records the deployment from the event
        ctx.emit(ColourDeployed(ctx.run_id, time.time(), colour, digest, name, built_by))
    return ""
