"""A pipeline phase with a ``release:`` block, run by the engine: deploy the idle colour, then the
rollout, its events on the engine's stream. A cancelled run gives all traffic back to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, PhaseFinished, StageFinished, StageStarted, Status
from cdtui.engine.output import OutputSink
from cdtui.release.autostart import ensure_embedded_router
from cdtui.release.control import locked, prepare
from cdtui.release.events import (
    ColourDeployed,
    HealthSampled,
    ReleaseStateChanged,
    WeightChanged,
)
from cdtui.release.rollout import ReleaseError, Rollout, State
from cdtui.release.routers import RouterError
from cdtui.store.releases import ReleaseLocked

if TYPE_CHECKING:
    from cdtui.engine.engine import Engine
    from cdtui.engine.plan import PhasePlan

_LEVELS = {State.ABORTED.value: "error", State.FAILED.value: "error"}
_ACTIVE: weakref.WeakKeyDictionary[Engine, Rollout] = weakref.WeakKeyDictionary()


def active_rollout(engine: Engine) -> Rollout | None:
    """The rollout an engine's release phase is running now, for promote/pause/resume/abort."""
    return _ACTIVE.get(engine)


FAILED_CHECKS_TOLD = 3
"""Failed checks in a row of one colour written to the release log before it goes quiet."""
RELEASE_STAGE = "release"
"""The release shows as one stage of its phase, so the tree, history and ``cdtui logs`` show it."""


def describe(spec: ReleaseSpec) -> str:
    """The release stage's command line, as the tree and history show it."""
    steps = ",".join(map(str, spec.effective_steps))
    return f"blue/green release via the {spec.router.kind} router, steps {steps}%"


class ReleaseLog:
    """The release stage's log: timestamped lines through the engine's masking output path."""

    def __init__(self, engine: Engine, phase: str) -> None:
        self.sink = OutputSink(engine, phase, RELEASE_STAGE, 1)
        self.failing: dict[str, int] = {}  # colour -> failed checks in a row

    def line(self, text: str, stream: str = "stdout") -> None:
        clock = time.strftime("%H:%M:%S")
        for part in text.splitlines() or [""]:
            self.sink.feed(stream, f"{clock} {part}\n".encode())

    def event(self, event: Event) -> None:
        if isinstance(event, ReleaseStateChanged):
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

    def close(self) -> None:
        for stream in ("stdout", "stderr"):
            self.sink.feed(stream, b"", final=True)


async def run_release_phase(engine: Engine, phase_plan: PhasePlan) -> Status:
    """Run the phase's release as its one stage; emits PhaseFinished, returns the status."""
    name = phase_plan.name
    spec = phase_plan.phase.release
    assert spec is not None
    began = time.monotonic()
    engine._emit(StageStarted(engine.run_id, time.time(), name, RELEASE_STAGE, 1, describe(spec)))
    log = ReleaseLog(engine, name)
    try:
        status, reason = await _release(engine, phase_plan, log)
    except BaseException as exc:  # the stage and the phase still end on record
        status, reason = Status.FAILED, f"release crashed: {type(exc).__name__}: {exc}"
        raise
    finally:
        log.line(f"{status.lower()}: {reason}" if reason else status.lower())
        log.close()
        engine._emit(
            StageFinished(
                engine.run_id,
                time.time(),
                name,
                RELEASE_STAGE,
                1,
                status,
                None,
                reason,
                time.monotonic() - began,
            )
        )
        if not status.ok:
            engine.notice("error", reason, name)
        engine._emit(PhaseFinished(engine.run_id, time.time(), name, status, reason))
    return status


async def _release(engine: Engine, phase_plan: PhasePlan, log: ReleaseLog) -> tuple[Status, str]:
    name = phase_plan.name
    spec = phase_plan.phase.release
    assert spec is not None
    if phase_plan.stages:
        return Status.FAILED, (
            f"phase {name!r} has both stages and a release block: move the stages to a phase "
            "before it (the release deploys with green.deploy / blue.deploy)"
        )

    reached = [0]  # the last step with traffic: where an abort happened (its event says 0)

    def emit(event: Event) -> None:
        engine._emit(event)
        log.event(event)
        if isinstance(event, ReleaseStateChanged):
            level = _LEVELS.get(event.state, "info")
            step = event.step or reached[0]
            reached[0] = step
            if level != "info":  # progress is in the release log; problems also stand out
                engine.notice(level, f"release {event.state} at {step}%: {event.reason}", name)

    try:
        started = await ensure_embedded_router(spec, engine.project_dir)
        if started:
            engine.notice("info", started, name)
            log.line(started)
        async with locked(spec, engine.project_dir) as handle:
            rollout, note = await prepare(handle, run_id=engine.run_id, emit=emit)
            if note:
                engine.notice("warning", note, name)
                log.line(f"note: {note}")
            deploy = spec.green.deploy if rollout.idle == "green" else spec.blue.deploy
            if deploy is not None:
                url = spec.green.url if rollout.idle == "green" else spec.blue.url
                failed = await _deploy(engine, name, rollout.idle, url, deploy, log)
                if failed:
                    return Status.FAILED, failed
            watcher = asyncio.create_task(_abort_on_cancel(engine, rollout.abort))
            _ACTIVE[engine] = rollout
            try:
                outcome = await rollout.run()
            finally:
                _ACTIVE.pop(engine, None)
                watcher.cancel()
    except (ReleaseError, ReleaseLocked, RouterError) as exc:
        return Status.FAILED, str(exc)
    if engine._cancelled.is_set():
        return Status.CANCELLED, outcome.reason
    if outcome.state is State.DONE:
        from cdtui.release.context import record_released_commit

        await asyncio.to_thread(record_released_commit, engine.project_dir)
    return (Status.SUCCEEDED if outcome.state is State.DONE else Status.FAILED), outcome.reason


def _deployed(engine: Engine, colour: str, name: str, digest: str, built_by: int) -> None:
    from cdtui.release.deployments import Deployment, record

    now = time.time()
    record(engine.project_dir, Deployment(colour, digest, name, built_by, engine.run_id, now))
    engine._emit(ColourDeployed(engine.run_id, now, colour, digest, name, built_by))


async def _abort_on_cancel(engine: Engine, abort: Callable[[str], None]) -> None:
    await engine._cancelled.wait()
    abort(f"run {engine._cancel_reason}")


async def _deploy(
    engine: Engine, phase: str, colour: str, url: str, deploy: str | list[str], log: ReleaseLog
) -> str:
    """Run the idle colour's deploy command in the project; '' when it succeeded.

    It learns the colour and where it must answer (CDTUI_COLOUR, CDTUI_COLOUR_URL), and the
    stored artifact to ship (CDTUI_ARTIFACT, CDTUI_ARTIFACT_SHA256, CDTUI_ARTIFACT_NAME)."""
    from cdtui.engine.engine import shell_argv

    argv = shell_argv(deploy) if isinstance(deploy, str) else list(deploy)
    env = {**engine.environ, **engine.pipeline.env, **engine.secrets}
    env.update(CDTUI_RUN_ID=str(engine.run_id), CDTUI_PHASE=phase, CDTUI_COLOUR=colour)
    env["CDTUI_COLOUR_URL"] = url
    from cdtui.release.deployments import release_artifact

    artifact = await asyncio.to_thread(release_artifact, engine.project_dir)
    if artifact is not None:
        name, digest, built_by, stored = artifact
        env.update(CDTUI_ARTIFACT=str(stored), CDTUI_ARTIFACT_SHA256=digest)
        env["CDTUI_ARTIFACT_NAME"] = name
        log.line(f"artifact {name} sha256:{digest} (stored by run #{built_by}): $CDTUI_ARTIFACT")
    shown = engine.masker.mask_text(deploy if isinstance(deploy, str) else " ".join(deploy))
    engine.notice("info", f"deploying idle {colour}: {shown}", phase)
    log.line(f"deploying idle {colour}: $ {shown}")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=engine.project_dir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot start the deploy of idle {colour}: {exc.strerror or exc}"
    cancelled = asyncio.create_task(engine._cancelled.wait())
    output = asyncio.create_task(proc.communicate())
    await asyncio.wait({cancelled, output}, return_when="FIRST_COMPLETED")
    cancelled.cancel()
    if not output.done():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        await output
        return f"deploy of idle {colour} cancelled: run {engine._cancel_reason}"
    text = (output.result()[0] or b"").decode(errors="replace").strip()
    if text:
        engine.notice("info", engine.masker.mask_text(text.splitlines()[-1])[-400:], phase)
        log.line(text)  # the whole output, masked on its way to the log
    if proc.returncode != 0:
        return f"deploy of idle {colour} failed (exit {proc.returncode}): traffic unchanged"
    if artifact is not None:
        _deployed(engine, colour, *artifact[:3])
    return ""
