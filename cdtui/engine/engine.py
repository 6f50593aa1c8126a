"""The pipeline engine: runs a plan, fires events on the bus, takes approvals and cancels.

It knows no screen and no kind of work: phases, gates, the stage DAG, retries, timeouts and
cancel live here; what a stage does is its kind's (``cdtui.stages``). Actions come in as plain
method calls (``approve``, ``cancel``, ``cancel_stage``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config.models import Pipeline, Stage
from cdtui.engine.attempt import keep_outputs, stage_context
from cdtui.engine.bus import EventBus
from cdtui.engine.events import (
    Event,
    GateApproved,
    GateWaiting,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    Status,
)
from cdtui.engine.interpolate import Scope
from cdtui.engine.masking import SecretMasker
from cdtui.engine.plan import PhasePlan, Plan
from cdtui.runners.local import ProcessResult

if TYPE_CHECKING:
    from cdtui.runners.ssh import SshPool
    from cdtui.stages.context import Cancellable

Subscriber = Callable[[Event], None]
RETRYABLE = (Status.FAILED, Status.TIMED_OUT)


@dataclass
class EngineOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    approve: frozenset[str] = frozenset()  # phases approved up front (headless --approve)
    interactive_gates: bool = False  # wait for approve() instead of stopping BLOCKED
    user: str = field(default_factory=lambda: _current_user())
    # Per stage kind, what a front end asks beyond the pipeline file (``cdtui release --steps``).
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class Engine:
    """One run of a plan."""

    def __init__(
        self,
        pipeline: Pipeline,
        plan: Plan,
        *,
        project_dir: Path,
        run_id: int,
        secrets: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        options: EngineOptions | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self.project_dir = project_dir
        self.run_id = run_id
        self.secrets = dict(secrets or {})
        self.masker = SecretMasker(self.secrets.values())
        self.environ = dict(os.environ if environ is None else environ)
        self.options = options or EngineOptions()
        self.bus = bus or EventBus()
        self.scope = Scope()  # ${namespace.path}: what the run's stages published
        self._slots = asyncio.Semaphore(max(1, self.options.jobs))
        self._cancelled = asyncio.Event()
        self._cancel_reason = ""
        self._gates: dict[str, asyncio.Event] = {}
        self._approved: set[str] = set()
        self._running: dict[tuple[str, str], list[Cancellable]] = {}
        self._reasons: dict[tuple[str, str], str] = {}  # a stage's last reason, for its phase
        self._controls: dict[str, Any] = {}  # stage -> its kind's live handle (a rollout)
        self._ssh: SshPool | None = None
        self.status = Status.PENDING

    # -- the event stream -------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """A synchronous subscriber on the bus this run fires on (see ``EventBus``)."""
        return self.bus.subscribe(subscriber)

    def _emit(self, event: Event) -> None:
        self.bus.emit(event)

    def notice(self, level: str, text: str, phase: str = "", stage: str = "") -> None:
        self._emit(
            Notice(self.run_id, time.time(), level, self.masker.mask_text(text), phase, stage)
        )

    # -- actions ----------------------------------------------------------------------
    def approve(self, phase: str, who: str | None = None) -> bool:
        """Approve a waiting gate once; a repeated approval is ignored (returns False)."""
        gate = self._gates.get(phase)
        if gate is None or gate.is_set():
            return False
        self._emit(GateApproved(self.run_id, time.time(), phase, who or self.options.user))
        self._approved.add(phase)
        gate.set()
        return True

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the whole run: running stages end their process trees, nothing new starts."""
        if self._cancelled.is_set():
            return
        self._cancel_reason = reason
        self._cancelled.set()
        for things in list(self._running.values()):
            for thing in list(things):
                thing.cancel(reason)

    def cancel_stage(self, phase: str, stage: str, reason: str = "cancelled") -> bool:
        things = self._running.get((phase, stage))
        if not things:
            return False
        for thing in list(things):
            thing.cancel(reason)
        return True

    def skip_grace(self) -> None:
        """A second Ctrl-C: whatever is being ended gets SIGKILL now, not after the grace."""
        for things in list(self._running.values()):
            for thing in things:
                if hasattr(thing, "grace"):
                    thing.grace = 0.0

    def control_of(self, stage: str) -> Any:
        """The live handle a running stage's kind offers (a release's rollout), else None."""
        return self._controls.get(stage)

    @property
    def waiting_gates(self) -> list[str]:
        return [name for name, gate in self._gates.items() if not gate.is_set()]

    def ssh_pool(self) -> SshPool:
        """One SSH connection per host for this run, opened on first use."""
        if self._ssh is None:
            from cdtui.runners.ssh import SshPool

            self._ssh = SshPool(
                self.pipeline.hosts,
                on_warning=lambda text: self.notice("warning", text),
                base_dir=self.project_dir,
            )
        return self._ssh

    # -- running ----------------------------------------------------------------------
    async def run(self) -> Status:
        started = time.time()
        self.status = Status.RUNNING
        self._emit(
            RunStarted(
                self.run_id,
                started,
                self.pipeline.project,
                tuple(p.name for p in self.plan.phases),
                self.options.user,
            )
        )
        status, reason = Status.SUCCEEDED, ""
        try:
            for phase_plan in self.plan.phases:
                if self._cancelled.is_set():
                    status, reason = Status.CANCELLED, self._cancel_reason
                    break
                phase_status = await self._run_phase(phase_plan)
                if phase_status is Status.BLOCKED:
                    status = Status.BLOCKED
                    reason = f"phase {phase_plan.name!r} waits for approval"
                    break
                if not phase_status.ok:
                    status = Status.CANCELLED if self._cancelled.is_set() else phase_status
                    reason = self._cancel_reason or f"phase {phase_plan.name!r} {phase_status}"
                    break
        finally:
            if self._cancelled.is_set() and status is Status.SUCCEEDED:
                status, reason = Status.CANCELLED, self._cancel_reason
            self.status = status
            if self._ssh is not None:
                await self._ssh.close()
            self._emit(RunFinished(self.run_id, time.time(), status, self.masker.mask_text(reason)))
        return status

    async def _gate(self, phase_plan: PhasePlan) -> bool:
        """True once the phase may start; False when the run must stop at this gate."""
        name = phase_plan.name
        gate = self._gates.setdefault(name, asyncio.Event())
        next_stages = tuple(s.name for s in phase_plan.stages)
        self._emit(GateWaiting(self.run_id, time.time(), name, next_stages))
        if name in self.options.approve or name.lower() in {
            a.lower() for a in self.options.approve
        }:
            self.approve(name, f"{self.options.user} (--approve)")
            return True
        if not self.options.interactive_gates:
            return False
        cancelled = asyncio.ensure_future(self._cancelled.wait())
        approved = asyncio.ensure_future(gate.wait())
        await asyncio.wait({cancelled, approved}, return_when="FIRST_COMPLETED")
        cancelled.cancel()
        approved.cancel()
        return gate.is_set() and not self._cancelled.is_set()

    async def _run_phase(self, phase_plan: PhasePlan) -> Status:
        name = phase_plan.name
        if phase_plan.phase.gate == "confirm" and not await self._gate(phase_plan):
            if self._cancelled.is_set():
                self._finish_unstarted(phase_plan, {}, f"run {self._cancel_reason}")
                self._emit(PhaseFinished(self.run_id, time.time(), name, Status.CANCELLED))
                return Status.CANCELLED
            self._emit(
                PhaseFinished(self.run_id, time.time(), name, Status.BLOCKED, "not approved")
            )
            return Status.BLOCKED
        self._emit(PhaseStarted(self.run_id, time.time(), name))
        results: dict[str, Status] = {}
        by_name = {s.name: s for s in phase_plan.stages}
        selected = set(by_name)
        pending = [s.name for s in phase_plan.stages]
        running: dict[asyncio.Task[Status], str] = {}
        while pending or running:
            for stage_name in list(pending):
                stage = by_name[stage_name]
                needs = [n for n in stage.needs if n in selected]
                if any(n not in results for n in needs):
                    continue
                pending.remove(stage_name)
                blocker = next(
                    (n for n in needs if not self._satisfies(by_name[n], results[n])), None
                )
                if self._cancelled.is_set():
                    results[stage_name] = self._skip(name, stage_name, f"run {self._cancel_reason}")
                elif blocker is not None and stage.when != "always":
                    why = f"needs {blocker!r}, which {results[blocker].lower()}"
                    results[stage_name] = self._skip(name, stage_name, why)
                elif stage.when == "manual" and stage_name not in phase_plan.requested:
                    hint = f"manual stage: run it with --stage '{name}/{stage_name}'"
                    results[stage_name] = self._skip(name, stage_name, hint)
                else:
                    task = asyncio.create_task(self._run_stage(name, stage))
                    running[task] = stage_name
            if not running:
                continue
            done, _ = await asyncio.wait(running, return_when="FIRST_COMPLETED")
            for task in done:
                results[running.pop(task)] = task.result()
        failed = [n for n, st in results.items() if not self._satisfies(by_name[n], st)]
        failed = [n for n in failed if results[n] is not Status.SKIPPED]
        if self._cancelled.is_set():
            # What the stages said when they ended (a release: "all traffic back on live ..").
            said = [self._reasons.get((name, n), "") for n in results]
            said = [r for r in dict.fromkeys(said) if r and r != self._cancel_reason]
            status, reason = Status.CANCELLED, "; ".join(said) or self._cancel_reason
        elif failed:
            status, reason = Status.FAILED, f"failed: {', '.join(failed)}"
            if len(failed) == 1 and self._reasons.get((name, failed[0])):
                reason += f" ({self._reasons[(name, failed[0])][:300]})"
        else:
            status, reason = Status.SUCCEEDED, ""
        self._emit(PhaseFinished(self.run_id, time.time(), name, status, reason))
        return status

    @staticmethod
    def _satisfies(stage: Stage, status: Status) -> bool:
        """Whether dependents may run and the phase may pass after this stage's outcome."""
        if status is Status.SUCCEEDED:
            return True
        return stage.continue_on_error and status in RETRYABLE

    def _skip(self, phase: str, stage: str, reason: str) -> Status:
        self._emit(
            StageFinished(self.run_id, time.time(), phase, stage, 0, Status.SKIPPED, None, reason)
        )
        return Status.SKIPPED

    def _finish_unstarted(
        self, phase_plan: PhasePlan, results: dict[str, Status], why: str
    ) -> None:
        for stage in phase_plan.stages:
            if stage.name not in results:
                results[stage.name] = self._skip(phase_plan.name, stage.name, why)

    async def _run_stage(self, phase: str, stage: Stage) -> Status:
        policy = stage.retries
        attempt = 0
        while True:
            attempt += 1
            async with self._slots:
                if self._cancelled.is_set():
                    return self._skip(phase, stage.name, f"run {self._cancel_reason}")
                result, duration = await self._attempt(phase, stage, attempt)
            retry = (
                result.status in RETRYABLE
                and attempt <= policy.count
                and not self._cancelled.is_set()
            )
            delay = policy.delay(attempt) if retry else 0.0
            self._emit(
                StageFinished(
                    self.run_id,
                    time.time(),
                    phase,
                    stage.name,
                    attempt,
                    result.status,
                    result.exit_code,
                    self.masker.mask_text(result.reason),
                    duration,
                    retry,
                    delay,
                )
            )
            if not retry:
                self._reasons[(phase, stage.name)] = result.reason
                return result.status
            try:
                await asyncio.wait_for(self._cancelled.wait(), timeout=delay)
            except TimeoutError:
                continue
            return result.status

    async def _attempt(self, phase: str, stage: Stage, attempt: int) -> tuple[ProcessResult, float]:
        from cdtui.stages import kind_of

        kind = kind_of(stage)
        ctx = stage_context(self, phase, stage, attempt)
        began = time.monotonic()
        try:
            result = await kind.run(ctx)
        except Exception as error:  # a kind's bug fails its stage, never the run's record
            result = ProcessResult(Status.FAILED, None, f"{stage.kind} crashed: {error!r}")
        finally:
            ctx.close()
            self._controls.pop(stage.name, None)
            if not ctx.has_started:
                ctx.started(stage.command_text)
        if kind.keeps_outputs(stage):
            result = await keep_outputs(ctx, result)
        return result, time.monotonic() - began

    def stage_env(self, phase: str, stage: Stage, attempt: int) -> dict[str, str]:
        """What a stage sees beyond its host's own environment: env layers, secrets, CDTUI_*."""
        env = {**self.pipeline.env, **stage.env, **self.secrets}
        env.update(
            CDTUI_RUN_ID=str(self.run_id),
            CDTUI_PHASE=phase,
            CDTUI_STAGE=stage.name,
            CDTUI_ATTEMPT=str(attempt),
        )
        return env
