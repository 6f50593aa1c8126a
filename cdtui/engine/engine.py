"""The pipeline engine: runs a plan, fires events on the bus, takes approvals and cancels.

It knows no screen and no kind of work: phases, gates, the stage DAG, retries, timeouts and
cancel live here; what a stage does is its kind's (``cdtui.stages``). Actions come in as plain
method calls (``approve``, ``cancel``, ``cancel_stage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config.conditions import Context
from cdtui.config.models import Pipeline, Stage
from cdtui.engine.attempt import keep_outputs, stage_context
from cdtui.engine.bus import EventBus
from cdtui.engine.changes import Changes, current_branch
from cdtui.engine.eligibility import PhaseView, implicit_needs, skip_reason
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
from cdtui.engine.legs import expand_dynamic, fail_fast, needing
from cdtui.engine.locks import Capacity, NamedLocks
from cdtui.engine.masking import SecretMasker
from cdtui.engine.outputs import carry_outputs, handoff_files, take_outputs
from cdtui.engine.plan import PhasePlan, Plan
from cdtui.engine.workspace import checkout_of, clean_checkout, record_commit
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
        self.exported_env: dict[str, str] = {}  # $CDTUI_ENV lines of stages that ended
        self._slots = Capacity(self.options.jobs)  # cpu units: --jobs, resources: {cpu: N}
        self._locks = NamedLocks()  # lock: NAME
        self._groups: dict[tuple[str, str], asyncio.Semaphore] = {}  # a matrix's max_parallel
        self._made_dirs: set[Path] = set()
        self._handoffs: dict[tuple[str, str, int], tuple[Path, Path]] = {}  # outputs.py
        self._revision: asyncio.Future | None = None  # the commit under test (workspace.py)
        self._tripped: dict[str, set[str]] = {}  # phase -> matrices whose fail_fast tripped
        self._branch_name: str | None = None
        self._changed: Changes | None = None
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

    @functools.cached_property
    def state_dir(self) -> Path:
        """The project's state dir, fixed for a run (found once, not once per stage)."""
        from cdtui.store.paths import state_dir

        return state_dir(self.project_dir)

    @functools.cached_property
    def logs_dir(self) -> Path:
        """Where attempts' logs and side files go."""
        return self.state_dir / "logs"

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
        tested = None
        try:
            carry_outputs(self)
            tested = asyncio.ensure_future(record_commit(self))
            await self._prefetch_conditions()
            failed_at = ""
            for phase_plan in self.plan.phases:
                if self._cancelled.is_set():
                    status, reason = Status.CANCELLED, self._cancel_reason
                    break
                if failed_at:  # after a failure only always / on_failure stages run, and
                    # never behind a gate: nobody approved anything for a failed run
                    gated = phase_plan.phase.gate == "confirm"
                    if not gated and any(
                        s.when in ("always", "on_failure") for s in phase_plan.stages
                    ):
                        await self._run_phase(phase_plan, run_failed=True)
                    continue
                phase_status = await self._run_phase(phase_plan)
                if phase_status is Status.BLOCKED:
                    status = Status.BLOCKED
                    reason = f"phase {phase_plan.name!r} waits for approval"
                    break
                if not phase_status.ok:
                    status = Status.CANCELLED if self._cancelled.is_set() else phase_status
                    reason = self._cancel_reason or f"phase {phase_plan.name!r} {phase_status}"
                    if status is Status.CANCELLED:
                        break
                    failed_at = phase_plan.name
        finally:
            if self._cancelled.is_set() and status is Status.SUCCEEDED:
                status, reason = Status.CANCELLED, self._cancel_reason
            self.status = status
            if self._ssh is not None:
                await self._ssh.close()
            if tested is not None:
                await tested
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

    async def _run_phase(self, phase_plan: PhasePlan, run_failed: bool = False) -> Status:
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
        view = PhaseView(
            name,
            results,
            lambda n, st: self._satisfies(by_name[n], st),
            phase_plan.requested,
            run_failed,
            self._tripped.setdefault(name, set()),
        )
        placeholders: set[str] = set()  # dynamic matrices: their legs carry the results
        # Finished tasks in the order they finished: asyncio.wait over every running task would
        # hook and unhook each of them once per finished stage (O(n^2) for a 100-leg matrix).
        finished: deque[asyncio.Task[Status]] = deque()
        woken = asyncio.Event()

        def ended(task: asyncio.Task[Status]) -> None:
            finished.append(task)
            woken.set()

        while pending or running:
            for stage_name in list(pending):
                stage = by_name[stage_name]
                needs = [n for n in implicit_needs(stage, by_name.values()) if n in selected]
                if any(n not in results for n in needs):
                    continue
                pending.remove(stage_name)
                if self._cancelled.is_set():
                    results[stage_name] = self._skip(name, stage_name, f"run {self._cancel_reason}")
                    continue
                why = skip_reason(stage, needs, view, lambda s=stage: self._condition_context(s))
                if why:
                    results[stage_name] = self._skip(name, stage_name, why)
                elif stage.matrix is not None and stage.matrix.dynamic and not stage.matrix_of:
                    legs = expand_dynamic(self, name, stage)
                    if isinstance(legs, str):
                        results[stage_name] = self._fail_unstarted(name, stage, legs)
                        continue
                    placeholders.add(stage_name)
                    results[stage_name] = Status.SUCCEEDED  # stands for nothing: legs decide
                    for leg in legs:
                        by_name[leg.name] = leg
                        selected.add(leg.name)
                    pending[:0] = [leg.name for leg in legs]
                    # Who needed the matrix now needs its legs.
                    for other in list(by_name.values()):
                        if stage_name in other.needs and other.name in pending:
                            by_name[other.name] = needing(other, stage_name, legs)
                else:
                    task = asyncio.create_task(self._run_stage(name, stage))
                    task.add_done_callback(ended)
                    running[task] = stage_name
            if not running:
                continue
            await woken.wait()
            woken.clear()
            while finished:
                task = finished.popleft()
                done = running.pop(task)
                results[done] = task.result()
                fail_fast(self, name, by_name[done], results[done], view, running)
        failed = [
            n
            for n, st in results.items()
            if n not in placeholders
            and not self._satisfies(by_name[n], st)
            and st is not Status.SKIPPED
        ]
        if self._cancelled.is_set():
            # What the stages said when they ended (a release: "all traffic back on live ..").
            said = [self._reasons.get((name, n), "") for n in results]
            said = [r for r in dict.fromkeys(said) if r and r != self._cancel_reason]
            status, reason = Status.CANCELLED, "; ".join(said) or self._cancel_reason
        elif failed:
            status, reason = Status.FAILED, f"failed: {', '.join(failed)}"
            if len(failed) == 1 and self._reasons.get((name, failed[0])):
                reason += f" ({self._reasons[(name, failed[0])][:300]})"
        elif run_failed:
            status, reason = Status.FAILED, "an earlier phase failed"
        else:
            status, reason = Status.SUCCEEDED, ""
        self._emit(PhaseFinished(self.run_id, time.time(), name, status, reason))
        return status

    def _condition_context(self, stage: Stage) -> Context:
        env = {**self.environ, **self.pipeline.env, **self.exported_env, **stage.env}
        return Context(self._branch(), env, stage.matrix_values, self._changes().any)

    def _branch(self) -> str:
        if self._branch_name is None:
            self._branch_name = current_branch(self.project_dir, self.environ)
        return self._branch_name

    def _changes(self) -> Changes:
        if self._changed is None:
            self._changed = Changes(self.project_dir, self.environ)
        return self._changed

    async def _prefetch_conditions(self) -> None:
        """git runs in a thread before the first stage, and only when an ``if:`` asks."""
        texts = [s.if_ or "" for p in self.plan.phases for s in p.stages]
        if any("branch" in t for t in texts):
            await asyncio.to_thread(self._branch)
        if any("changed" in t for t in texts):
            changes = self._changes()
            await asyncio.to_thread(lambda: changes.files)

    def _fail_unstarted(self, phase: str, stage: Stage, reason: str) -> Status:
        self._emit(
            StageFinished(
                self.run_id, time.time(), phase, stage.name, 0, Status.FAILED, None, reason
            )
        )
        self._reasons[(phase, stage.name)] = reason
        return Status.FAILED

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
            async with self._bounds(phase, stage):
                if self._cancelled.is_set():
                    return self._skip(phase, stage.name, f"run {self._cancel_reason}")
                if stage.matrix_of in self._tripped.get(phase, ()):
                    why = f"fail_fast: another leg of {stage.matrix_of!r} failed"
                    return self._skip(phase, stage.name, why)
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

    def _bounds(self, phase: str, stage: Stage) -> contextlib.AbstractAsyncContextManager[Any]:
        """What a stage waits for before it starts: its matrix's max_parallel, its named
        locks, then its cpu units (a stage waiting for a lock holds no units)."""
        spec = stage.matrix
        if stage.lock or (stage.matrix_of and spec is not None and spec.max_parallel):
            return self._bounded(phase, stage)
        return self._slots.take(stage.resources.cpu)  # most stages: cpu units only

    @contextlib.asynccontextmanager
    async def _bounded(self, phase: str, stage: Stage):
        async with contextlib.AsyncExitStack() as held:
            spec = stage.matrix
            if stage.matrix_of and spec is not None and spec.max_parallel:
                key = (phase, stage.matrix_of)
                group = self._groups.setdefault(key, asyncio.Semaphore(spec.max_parallel))
                await held.enter_async_context(group)
            if stage.lock:
                busy = self._locks.busy(stage.lock)
                if busy:
                    self.notice("info", f"waits for lock {', '.join(busy)}", phase, stage.name)
                await held.enter_async_context(self._locks.hold(stage.lock))
            await held.enter_async_context(self._slots.take(stage.resources.cpu))
            yield

    async def _attempt(self, phase: str, stage: Stage, attempt: int) -> tuple[ProcessResult, float]:
        began = time.monotonic()
        if checkout_of(self, phase, stage) is None:  # no checkout: nothing to make or remove
            result = await self._in_workspace(phase, stage, attempt, None)
            return result, time.monotonic() - began
        async with clean_checkout(self, phase, stage, attempt) as workdir:
            if isinstance(workdir, ProcessResult):  # the checkout could not be made
                ctx = stage_context(self, phase, stage, attempt)
                ctx.started(stage.command_text)
                ctx.close()
                return workdir, time.monotonic() - began
            result = await self._in_workspace(phase, stage, attempt, workdir)
        return result, time.monotonic() - began

    async def _in_workspace(
        self, phase: str, stage: Stage, attempt: int, workdir: Path | None
    ) -> ProcessResult:
        from cdtui.stages import kind_of

        kind = kind_of(stage)
        ctx = stage_context(self, phase, stage, attempt)
        if workdir is not None:  # checkout: clean: the stage's files and artifacts are there
            ctx.project_dir = workdir
        try:
            result = await kind.run(ctx)
        except Exception as error:  # a kind's bug fails its stage, never the run's record
            result = ProcessResult(Status.FAILED, None, f"{stage.kind} crashed: {error!r}")
        finally:
            ctx.close()
            self._controls.pop(stage.name, None)
            if not ctx.has_started:
                ctx.started(stage.command_text)
        if not stage.on:
            take_outputs(self, phase, stage, attempt)
        if kind.keeps_outputs(stage):
            result = await keep_outputs(ctx, result)
        return result

    def stage_env(self, phase: str, stage: Stage, attempt: int) -> dict[str, str]:
        """What a stage sees beyond its host's own environment: env layers, secrets, CDTUI_*."""
        env = {**self.pipeline.env, **self.exported_env, **stage.env, **self.secrets}
        env.update(
            CDTUI_RUN_ID=str(self.run_id),
            CDTUI_PHASE=phase,
            CDTUI_STAGE=stage.name,
            CDTUI_ATTEMPT=str(attempt),
        )
        for axis, value in stage.matrix_values.items():
            env[f"CDTUI_MATRIX_{_env_name(axis)}"] = value
        if not stage.on:  # files on this machine: a remote host could not write them
            output_file, env_file = handoff_files(self, phase, stage.name, attempt)
            if output_file.parent not in self._made_dirs:  # per attempt: no file to clear
                output_file.parent.mkdir(parents=True, exist_ok=True)
                self._made_dirs.add(output_file.parent)
            env.update(CDTUI_OUTPUT=str(output_file), CDTUI_ENV=str(env_file))
        return env


def _env_name(axis: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in axis).upper()
