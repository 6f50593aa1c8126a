"""The pipeline engine: runs a plan, emits events, takes approvals and cancels.

It knows no screen. Consumers subscribe to the event stream; actions come in as plain
method calls (``approve``, ``cancel``, ``cancel_stage``).
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.config.models import Pipeline, Stage
from cdtui.engine.events import (
    ArtifactStored,
    Event,
    GateApproved,
    GateWaiting,
    MetricRecorded,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    StageStarted,
    Status,
)
from cdtui.engine.masking import SecretMasker
from cdtui.engine.output import OutputSink
from cdtui.engine.plan import PhasePlan, Plan
from cdtui.runners.local import LocalProcess, ProcessResult
from cdtui.store.artifacts import ArtifactError, metrics_path, read_metrics, store_artifacts
from cdtui.store.paths import state_dir

if TYPE_CHECKING:
    from cdtui.engine.remote import HostGroup
    from cdtui.runners.ssh import SshPool

Subscriber = Callable[[Event], None]
RETRYABLE = (Status.FAILED, Status.TIMED_OUT)


@dataclass
class EngineOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    approve: frozenset[str] = frozenset()  # phases approved up front (headless --approve)
    interactive_gates: bool = False  # wait for approve() instead of stopping BLOCKED
    user: str = field(default_factory=lambda: _current_user())


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@functools.cache
def _bash() -> str | None:
    return shutil.which("bash")


def shell_argv(script: str) -> list[str]:
    """Strings run like CI services run them: bash with errexit and pipefail, else sh -e."""
    bash = _bash()
    if bash:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["/bin/sh", "-ec", script]


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
    ) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self.project_dir = project_dir
        self.run_id = run_id
        self.secrets = dict(secrets or {})
        self.masker = SecretMasker(self.secrets.values())
        self.environ = dict(os.environ if environ is None else environ)
        self.options = options or EngineOptions()
        self._subscribers: list[Subscriber] = []
        self._slots = asyncio.Semaphore(max(1, self.options.jobs))
        self._cancelled = asyncio.Event()
        self._cancel_reason = ""
        self._gates: dict[str, asyncio.Event] = {}
        self._approved: set[str] = set()
        self._running: dict[tuple[str, str], LocalProcess | HostGroup] = {}
        self._ssh: SshPool | None = None
        self.status = Status.PENDING

    # -- the event stream -------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def _emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as error:  # a broken consumer must not lose the run
                if isinstance(event, Notice):
                    continue
                self._emit(
                    Notice(
                        self.run_id,
                        time.time(),
                        "error",
                        self.masker.mask_text(f"{type(subscriber).__name__} failed: {error!r}"),
                    )
                )

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
        for process in list(self._running.values()):
            process.cancel(reason)

    def cancel_stage(self, phase: str, stage: str, reason: str = "cancelled") -> bool:
        process = self._running.get((phase, stage))
        if process is None:
            return False
        process.cancel(reason)
        return True

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
        if phase_plan.phase.release is not None:
            from cdtui.release.phase import run_release_phase

            return await run_release_phase(self, phase_plan)
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
            status, reason = Status.CANCELLED, self._cancel_reason
        elif failed:
            status, reason = Status.FAILED, f"failed: {', '.join(failed)}"
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
                return result.status
            try:
                await asyncio.wait_for(self._cancelled.wait(), timeout=delay)
            except TimeoutError:
                continue
            return result.status

    async def _attempt(self, phase: str, stage: Stage, attempt: int) -> tuple[ProcessResult, float]:
        if stage.on:
            # Remote stages keep neither artifacts nor metrics: their files live on the hosts.
            from cdtui.engine.remote import run_remote

            began = time.monotonic()
            hosts = self.pipeline.resolve_hosts(stage.on)
            result = await run_remote(self, phase, stage, attempt, hosts)
            return result, time.monotonic() - began
        argv = shell_argv(stage.run) if isinstance(stage.run, str) else list(stage.run)
        cwd = (self.project_dir / stage.cwd) if stage.cwd else self.project_dir
        env = self._stage_env(phase, stage, attempt)
        logs = state_dir(self.project_dir) / "logs"
        metrics = metrics_path(logs, self.run_id, phase, stage.name, attempt)
        env["CDTUI_METRICS"] = str(metrics)
        output = OutputSink(self, phase, stage.name, attempt)
        process = LocalProcess(
            argv,
            cwd=str(cwd),
            env=env,
            on_output=output.feed,
            grace=stage.grace if stage.grace is not None else self.pipeline.grace,
            keep_children=stage.keep_children,
        )
        began = time.monotonic()
        command = self.masker.mask_text(stage.command_text)
        try:
            if not cwd.is_dir():
                raise NotADirectoryError(f"working directory {stage.cwd!r} does not exist")
            metrics.parent.mkdir(parents=True, exist_ok=True)
            metrics.unlink(missing_ok=True)  # only this attempt's lines count
            pid = process.start()
        except OSError as error:
            self._emit(StageStarted(self.run_id, time.time(), phase, stage.name, attempt, command))
            why = error.strerror or str(error)
            target = getattr(error, "filename", None) or argv[0]
            reason = (
                str(error)
                if isinstance(error, NotADirectoryError)
                else f"cannot start {target}: {why}"
            )
            return ProcessResult(Status.FAILED, None, reason), 0.0
        key = (phase, stage.name)
        self._running[key] = process
        self._emit(
            StageStarted(self.run_id, time.time(), phase, stage.name, attempt, command, pid=pid)
        )
        if self._cancelled.is_set():
            process.cancel(self._cancel_reason)
        try:
            result = await process.wait(timeout=stage.timeout)
        finally:
            self._running.pop(key, None)
            output.close()
        if result.ended_leftovers:
            pids = ", ".join(map(str, result.ended_leftovers))
            self.notice(
                "warning",
                f"ended {len(result.ended_leftovers)} leftover process(es) of the stage ({pids}); "
                "set keep_children: true to keep them running",
                phase,
                stage.name,
            )
        if result.survivors:
            self.notice(
                "error", f"processes survived SIGKILL: {result.survivors}", phase, stage.name
            )
        result = await self._keep_outputs(phase, stage, attempt, result, cwd, metrics)
        return result, time.monotonic() - began

    async def _keep_outputs(
        self,
        phase: str,
        stage: Stage,
        attempt: int,
        result: ProcessResult,
        cwd: Path,
        metrics: Path,
    ) -> ProcessResult:
        """Record the attempt's metrics (whatever its status) and, if it succeeded, its artifacts.

        File work runs in a thread: a large artifact must not stall other stages' output.
        """
        shown = os.path.relpath(metrics, self.project_dir)
        found, warnings = await asyncio.to_thread(read_metrics, metrics, shown)
        for text in warnings:
            self.notice("warning", text, phase, stage.name)
        mask = self.masker.mask_text
        for m in found:
            self._emit(
                MetricRecorded(
                    self.run_id,
                    time.time(),
                    phase,
                    stage.name,
                    attempt,
                    mask(m.name),
                    m.value,
                    mask(m.unit),
                    m.threshold,
                    m.op,
                    m.ok,
                )
            )
        if result.status is not Status.SUCCEEDED or not stage.artifacts:
            return result
        root = state_dir(self.project_dir)
        try:
            stored = await asyncio.to_thread(
                store_artifacts, stage.artifacts, cwd, self.project_dir, root
            )
        except ArtifactError as error:
            return ProcessResult(Status.FAILED, result.exit_code, str(error))
        for kept in stored:
            self._emit(
                ArtifactStored(
                    self.run_id,
                    time.time(),
                    phase,
                    stage.name,
                    attempt,
                    mask(kept.path),
                    kept.sha256,
                    kept.size,
                )
            )
        return result

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

    def _stage_env(self, phase: str, stage: Stage, attempt: int) -> dict[str, str]:
        """A local stage inherits cdtui's environment (PATH, HOME, ...) under its own layers."""
        env = {**self.environ, **self.stage_env(phase, stage, attempt)}
        env["CDTUI_PROJECT_DIR"] = str(self.project_dir)
        return env
