"""The typed event stream: every consumer (console, headless, store, notifiers) reads only these.

Events are small frozen dataclasses named in the past tense. ``at`` is wall-clock time
(``time.time()``) so stores and renderers agree across processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """States of a run, a phase or a stage attempt."""

    PENDING = "PENDING"
    WAITING = "WAITING"  # a gate waits for approval
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    BLOCKED = "BLOCKED"  # a run stopped at a gate nobody approved
    INTERRUPTED = "INTERRUPTED"  # the cdtui process driving it died

    @property
    def finished(self) -> bool:
        return self not in (Status.PENDING, Status.WAITING, Status.RUNNING)

    @property
    def ok(self) -> bool:
        return self in (Status.SUCCEEDED, Status.SKIPPED)


@dataclass(frozen=True, slots=True)
class Event:
    run_id: int
    at: float


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    project: str
    phases: tuple[str, ...]
    user: str


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    status: Status
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PhaseStarted(Event):
    phase: str


@dataclass(frozen=True, slots=True)
class PhaseFinished(Event):
    phase: str
    status: Status
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GateWaiting(Event):
    """A ``gate: confirm`` phase waits; ``next_stages`` says exactly what approval will run."""

    phase: str
    next_stages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GateApproved(Event):
    phase: str
    who: str


@dataclass(frozen=True, slots=True)
class StageStarted(Event):
    phase: str
    stage: str
    attempt: int
    command: str
    host: str = "local"
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class StageOutput(Event):
    """A chunk of output as it arrived (not split into lines; may end mid-line). Already masked."""

    phase: str
    stage: str
    attempt: int
    stream: str  # "stdout" | "stderr"
    text: str
    host: str = "local"


@dataclass(frozen=True, slots=True)
class StageFinished(Event):
    phase: str
    stage: str
    attempt: int  # 0 for a stage that never started (SKIPPED)
    status: Status
    exit_code: int | None = None
    reason: str = ""
    duration: float = 0.0
    will_retry: bool = False
    retry_in: float = 0.0
    host: str = "local"


@dataclass(frozen=True, slots=True)
class ArtifactStored(Event):
    """A file named by a stage's ``artifacts:`` was kept by content (``sha256`` is hex)."""

    phase: str
    stage: str
    attempt: int
    path: str  # relative to the project dir
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class MetricRecorded(Event):
    """One line a stage wrote to ``$CDTUI_METRICS``; ``ok`` is None when it has no threshold."""

    phase: str
    stage: str
    attempt: int
    name: str
    value: float
    unit: str = ""
    threshold: float | None = None
    op: str = "<="
    ok: bool | None = None


@dataclass(frozen=True, slots=True)
class LoadProgress(Event):
    """A second of a running ``load:`` stage: achieved vs target rate, errors, latency (ms)."""

    phase: str
    stage: str
    attempt: int
    second: int  # seconds since the load started
    duration: float  # seconds the load lasts in all
    rate: float  # requests answered or failed that second
    target_rate: float  # what the open model scheduled (0 for a closed model)
    error_rate: float  # failed / requests that second, 0..1
    p50: float
    p95: float
    p99: float
    requests: int  # so far
    failed: int  # so far
    cpu: float = 0.0  # the busiest load worker's CPU that second, % of a core


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """Something the engine wants an operator to read that is not stage output."""

    level: str  # "info" | "warning" | "error"
    text: str
    phase: str = ""
    stage: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class OutputsPublished(Event):
    """What an attempt wrote to ``$CDTUI_OUTPUT`` (``outputs``) and ``$CDTUI_ENV`` (``env``),
    values masked: later stages read them as ``${stages.NAME.outputs.KEY}`` and in their env."""

    phase: str
    stage: str
    attempt: int
    outputs: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StagesExpanded(Event):
    """A matrix read from an earlier stage's output became these legs, in place of ``stage``."""

    phase: str
    stage: str
    legs: tuple[str, ...]
    commands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    phase: str
    stage: str
    attempt: int
    step: str
    index: int  # 0-based position in the stage's steps
    command: str = ""


@dataclass(frozen=True, slots=True)
class StepFinished(Event):
    phase: str
    stage: str
    attempt: int
    step: str
    index: int
    status: Status
    exit_code: int | None = None
    duration: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CommitTested(Event):
    """The git commit a run tested (HEAD when it began); ``dirty``: the working tree differed,
    so stages without ``checkout: clean`` saw more than the commit."""

    commit: str
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class AlertFired(Event):
    """A monitor alert began firing (``repeat`` 0), or is told again while it fires (1, 2, ...).

    ``cause`` is ``service`` (it answered badly or not at all) or ``checker`` (the check itself
    could not run: a name that does not resolve, a command that cannot start). ``quiet``: the
    alert has no ``notify`` action, so sinks listening for alerts leave it out."""

    alert: str
    check: str
    text: str
    level: str = "error"
    cause: str = "service"
    repeat: int = 0
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class AlertResolved(Event):
    """A firing monitor alert is over (its check passed ``resolve_after`` times in a row)."""

    alert: str
    check: str
    text: str
    fired_at: float = 0.0
    cause: str = "service"
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class MonitorActionTaken(Event):
    """What a firing alert did: ``outcome`` is done, failed, refused or skipped (and why);
    ``run_id`` is the run of a rollback, recover or run: action (0 for notify)."""

    alert: str
    action: str
    outcome: str
    reason: str = ""
    text: str = ""  # what an operator reads first: "rollback of shop-down: done"
