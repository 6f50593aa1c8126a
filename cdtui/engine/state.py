"""A run's state folded from events, or rebuilt from the store: what every view draws.

The console applies live events to it; an observer (``--readonly``) or the history screen
rebuilds it from the store. Both then read the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    StagesExpanded,
    StageStarted,
    Status,
    StepFinished,
    StepStarted,
)

if TYPE_CHECKING:
    from cdtui.config.models import Pipeline, Stage
    from cdtui.engine.plan import Plan
    from cdtui.store import RunStore


@dataclass
class StepState:
    """One of a stage's ``steps:`` in its latest attempt."""

    name: str
    status: Status = Status.PENDING
    started: float | None = None
    duration: float | None = None
    reason: str = ""
    exit_code: int | None = None


@dataclass
class StageState:
    phase: str
    name: str
    status: Status = Status.PENDING
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    host: str = "local"
    reason: str = ""
    exit_code: int | None = None
    command: str = ""
    will_retry: bool = False
    steps: dict[str, StepState] = field(default_factory=dict)  # steps: of the latest attempt
    step_names: tuple[str, ...] = ()  # a steps: stage's, from the pipeline: shown pending first
    progress: str = ""  # a kind's "2 of 5 resources done" (a Notice's extra["progress"])

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started


@dataclass
class PhaseState:
    name: str
    status: Status = Status.PENDING
    gate: bool = False
    reason: str = ""
    stages: dict[str, StageState] = field(default_factory=dict)


@dataclass
class RunState:
    run_id: int | None = None
    status: Status = Status.PENDING
    started: float | None = None
    finished: float | None = None
    reason: str = ""
    user: str = ""
    phases: dict[str, PhaseState] = field(default_factory=dict)
    approvals: list[tuple[str, str, float]] = field(default_factory=list)

    @classmethod
    def skeleton(cls, pipeline: Pipeline, plan: Plan | None = None) -> RunState:
        """Every phase and stage of the pipeline as PENDING: the tree before any run."""
        state = cls()
        selected = None
        if plan is not None:
            selected = {(p.name, s.name) for p in plan.phases for s in p.stages}
        for phase in pipeline.phases:
            ps = state.phases[phase.name] = PhaseState(phase.name, gate=phase.gate == "confirm")
            for stage in phase.stages:
                if selected is None or (phase.name, stage.name) in selected:
                    st = ps.stages[stage.name] = StageState(
                        phase.name, stage.name, command=stage.command_text
                    )
                    st.step_names = _step_names(stage)
                    st.steps = _pending(st.step_names)
        return state

    def stage(self, phase: str, name: str) -> StageState:
        ps = self.phases.setdefault(phase, PhaseState(phase))
        return ps.stages.setdefault(name, StageState(phase, name))

    def apply(self, event: Event) -> None:
        """Fold one event in; output events are ignored (logs are read from disk)."""
        if isinstance(event, StageStarted):
            st = self.stage(event.phase, event.stage)
            st.status, st.attempt, st.started, st.finished = (
                Status.RUNNING,
                event.attempt,
                event.at,
                None,
            )
            st.host, st.command, st.reason, st.exit_code = event.host, event.command, "", None
            st.steps = _pending(st.step_names)
        elif isinstance(event, StepStarted):
            st = self.stage(event.phase, event.stage)
            st.steps[event.step] = StepState(event.step, Status.RUNNING, event.at)
        elif isinstance(event, StepFinished):
            st = self.stage(event.phase, event.stage)
            step = st.steps.setdefault(event.step, StepState(event.step))
            step.status, step.duration = event.status, event.duration
            step.reason, step.exit_code = event.reason, event.exit_code
            st.progress = ""
        elif isinstance(event, StageFinished):
            st = self.stage(event.phase, event.stage)
            st.status, st.reason, st.exit_code = event.status, event.reason, event.exit_code
            st.finished, st.will_retry = event.at, event.will_retry
            st.attempt = max(st.attempt, event.attempt)
        elif isinstance(event, StagesExpanded):
            self._expanded(event)
        elif isinstance(event, PhaseStarted):
            self.phases.setdefault(event.phase, PhaseState(event.phase)).status = Status.RUNNING
        elif isinstance(event, PhaseFinished):
            ps = self.phases.setdefault(event.phase, PhaseState(event.phase))
            ps.status, ps.reason = event.status, event.reason
        elif isinstance(event, GateWaiting):
            self.phases.setdefault(event.phase, PhaseState(event.phase)).status = Status.WAITING
            self.status = Status.WAITING
        elif isinstance(event, GateApproved):
            self.approvals.append((event.phase, event.who, event.at))
            self.status = Status.RUNNING
        elif isinstance(event, RunStarted):
            self.run_id, self.status, self.started = event.run_id, Status.RUNNING, event.at
            self.finished, self.reason, self.user = None, "", event.user
        elif isinstance(event, RunFinished):
            self.status, self.finished, self.reason = event.status, event.at, event.reason
        elif isinstance(event, Notice) and event.stage and event.extra.get("progress"):
            self.stage(event.phase, event.stage).progress = event.extra["progress"]

    def _expanded(self, event: StagesExpanded) -> None:
        """A dynamic matrix's legs take its place in the tree, in order."""
        ps = self.phases.setdefault(event.phase, PhaseState(event.phase))
        commands = list(event.commands) + [""] * len(event.legs)
        rebuilt: dict[str, StageState] = {}
        for name, st in ps.stages.items():
            if name != event.stage:
                rebuilt[name] = st
                continue
            for leg, command in zip(event.legs, commands, strict=False):
                rebuilt[leg] = ps.stages.get(leg) or StageState(
                    event.phase, leg, command=command, step_names=st.step_names
                )
                rebuilt[leg].steps = rebuilt[leg].steps or _pending(st.step_names)
        if event.stage not in ps.stages:
            for leg, command in zip(event.legs, commands, strict=False):
                rebuilt.setdefault(leg, StageState(event.phase, leg, command=command))
        ps.stages = rebuilt

    @classmethod
    def from_store(cls, store: RunStore, run_id: int, pipeline: Pipeline | None = None) -> RunState:
        """Rebuild a past or foreign run (history, ``--readonly``) from its stored rows."""
        state = cls.skeleton(pipeline) if pipeline is not None else cls()
        summary = store.run(run_id)
        state.run_id = run_id
        if summary is not None:
            state.status, state.started, state.finished = (
                summary.status,
                summary.started,
                summary.finished,
            )
            state.reason, state.user = summary.reason, summary.user
        for record in store.attempts(run_id):
            st = state.stage(record.phase, record.stage)
            st.status, st.attempt, st.started, st.finished = (
                record.status,
                record.attempt,
                record.started,
                record.finished,
            )
            st.host, st.reason, st.exit_code = (
                record.host or "local",
                record.reason,
                record.exit_code,
            )
            st.command = getattr(record, "command", "") or st.command
        for phase, stage, attempt, step, status, at, code, took, why in store.steps(run_id):
            st = state.stage(phase, stage)
            if attempt != st.attempt:
                continue  # an earlier attempt's steps
            found = st.steps.setdefault(step, StepState(step))
            found.status, found.exit_code, found.reason = Status(status), code, why
            found.started = found.started or at
            found.duration = took
        for ps in state.phases.values():  # a dynamic matrix that ran shows its legs only
            for name in [n for n, st in ps.stages.items() if st.status is Status.PENDING]:
                if any(other.startswith(name + "[") for other in ps.stages):
                    del ps.stages[name]
        state.approvals = list(store.approvals(run_id))
        stored = store.phases(run_id)  # phase_states: what the engine said of each phase
        for name in stored:
            state.phases.setdefault(name, PhaseState(name))
        for ps in state.phases.values():
            stages = list(ps.stages.values())
            if ps.name in stored:
                ps.status, ps.reason = stored[ps.name]
            elif any(s.status is Status.RUNNING for s in stages):
                ps.status = Status.RUNNING
            elif stages and all(s.status.finished for s in stages):
                failed = any(not s.status.ok for s in stages)
                ps.status = Status.FAILED if failed else Status.SUCCEEDED
        return state

    def failed_stages(self) -> list[tuple[str, str]]:
        bad = (Status.FAILED, Status.TIMED_OUT, Status.CANCELLED, Status.INTERRUPTED)
        return [
            (p.name, s.name)
            for p in self.phases.values()
            for s in p.stages.values()
            if s.status in bad
        ]

    def running_stage(self) -> StageState | None:
        for ps in self.phases.values():
            for st in ps.stages.values():
                if st.status is Status.RUNNING:
                    return st
        return None


def _step_names(stage: Stage) -> tuple[str, ...]:
    """A ``steps:`` stage's step names, in order (any other kind has none)."""
    found = getattr(stage.spec, "steps", None) if stage.kind == "steps" else None
    return tuple(step.name for step in found or ())


def _pending(names: tuple[str, ...]) -> dict[str, StepState]:
    return {name: StepState(name) for name in names}
