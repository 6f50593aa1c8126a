"""What an operator needs before releasing or rolling back, gathered in one place, and the
reasons cdtui refuses: the router held by another cdtui, the router and the record disagreeing,
an idle colour that is unhealthy with nothing to redeploy it.

Read-only: takes the router lock only for an instant to learn whether someone else holds it.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config.durations import format_duration
from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Status
from cdtui.release.control import difference, key_of, live_colour, rollback_target
from cdtui.release.rollout import other
from cdtui.release.routers import RouterError, Weights, make_router
from cdtui.release.watch import ReleaseWatch, shown_url
from cdtui.store.paths import state_dir

if TYPE_CHECKING:
    from cdtui.config.models import Pipeline
    from cdtui.store import RunStore

GIT_TIMEOUT = 3.0
MAX_COMMITS = 6


@dataclass(frozen=True)
class Refusal:
    """Why the action is refused, and what to do about it."""

    title: str
    why: str
    fix: str


@dataclass
class ReleaseContext:
    spec: ReleaseSpec
    phase: str
    live: str = "blue"
    weights: Weights | None = None
    router_note: str = ""
    refusal: Refusal | None = None
    warnings: list[str] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)
    artifact: Any = None  # ArtifactRecord of the newest stored artifact, if any
    tested_run: int | None = None
    tested_by: str = ""
    results: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    commits_note: str = ""
    rollback_to: str = ""
    mask: Callable[[str], str] = lambda text: text  # the session's secrets, for shown commands

    @property
    def idle(self) -> str:
        return other(self.live)

    @property
    def plan(self) -> str:
        spec = self.spec
        steps = " → ".join(f"{s}%" for s in spec.effective_steps)
        health = spec.health
        limits = [
            f"{health.consecutive_failures} failed checks in a row",
            f"error rate > {health.max_error_rate:.0%}",
        ]
        if health.max_p95_ms is not None:
            limits.append(f"p95 > {health.max_p95_ms:g} ms")
        return (
            f"{steps}, holding {format_duration(spec.hold)} each; health every "
            f"{format_duration(health.interval)}; back to {self.live} at once on "
            + " or ".join(limits)
        )


async def gather(
    spec: ReleaseSpec,
    phase: str,
    project_dir: Path,
    watch: ReleaseWatch | None,
    store: RunStore | None = None,
    pipeline: Pipeline | None = None,
    *,
    for_rollback: bool = False,
) -> ReleaseContext:
    """Everything the release (or rollback) confirmation shows, plus any refusal."""
    from cdtui.store.releases import ReleaseLocked, ReleaseRecords, RouterLock

    context = ReleaseContext(spec, phase)
    key = key_of(spec.router)
    records = ReleaseRecords(project_dir, key)
    router = make_router(spec.router, project_dir)
    try:
        try:
            context.weights = await router.get_weights()
        except RouterError as exc:
            context.router_note = str(exc)
        finally:
            await router.close()
        last = records.last_weights()
        last_state = records.last_state()
        if context.weights is not None:
            context.live = live_colour(context.weights, records)
        elif last_state is not None:
            context.live = last_state.live
        lock = RouterLock(project_dir, key)
        try:
            lock.acquire()
            lock.release()
        except ReleaseLocked as exc:
            context.refusal = Refusal(
                "Another cdtui holds the router",
                str(exc),
                "Wait for that release to end, or stop that cdtui; `cdtui status` shows its "
                "progress. Nothing was changed.",
            )
        differs = difference(context.weights, last) if context.weights is not None else None
        if differs is not None and for_rollback:  # rollback is the way out: told, not refused
            context.warnings.append(f"the router and the record disagree: {differs}")
        elif context.refusal is None and differs is not None:
            shown = str(project_dir)
            context.refusal = Refusal(
                "The router and the record disagree",
                differs,
                f"Check who changed the router. `cdtui release --reconcile {shown}` adopts "
                f"its weights and releases; `b` (or `cdtui rollback {shown}`) puts all "
                "traffic on the live colour. Nothing was changed.",
            )
        if for_rollback:
            context.rollback_to = rollback_target(context.weights, last_state)
        elif context.weights is None and spec.router.kind != "embedded":
            context.refusal = context.refusal or Refusal(
                "The router does not answer",
                context.router_note,
                "Start or fix the router, then release again. Nothing was changed.",
            )
        elif context.weights is None:
            context.router_note = "not running: the release starts it"
    finally:
        records.close()
    _health(context, watch)
    if not for_rollback:
        _idle_refusal(context, watch)
        if store is not None:
            await asyncio.to_thread(_artifact_facts, context, store, pipeline)
        await asyncio.to_thread(_commits, context, project_dir)
    return context


def _health(context: ReleaseContext, watch: ReleaseWatch | None) -> None:
    for colour in ("blue", "green"):
        series = watch.colours[colour] if watch is not None else None
        context.health[colour] = series.summary() if series is not None else "not watched"


def _idle_refusal(context: ReleaseContext, watch: ReleaseWatch | None) -> None:
    idle = context.idle
    series = watch.colours[idle] if watch is not None else None
    if series is None or not series.known or series.healthy:
        return
    deploy = (context.spec.green if idle == "green" else context.spec.blue).deploy
    last = series.recent[-1].error if series.recent else ""
    if deploy is not None:
        context.warnings.append(
            f"idle {idle} is unhealthy now ({last}); the release deploys it first and needs "
            f"{context.spec.health.preflight} healthy checks before it takes traffic"
        )
        return
    if context.refusal is None:
        context.refusal = Refusal(
            f"Idle {idle} is unhealthy",
            f"{series.consecutive_failures} failed checks in a row: {last}",
            f"Nothing deploys {idle} in this release block ({idle}.deploy is not set): fix or "
            f"redeploy {idle} at {shown_url(getattr(context.spec, idle).url)} until its health "
            "checks pass, then release. Nothing was changed.",
        )


@dataclass(frozen=True)
class TestedBytes:
    """The newest stored artifact and the newest run that passed the phase before the release
    with those very bytes; ``refusal`` says why they may not be released."""

    artifact: Any = None  # ArtifactRecord, None when nothing was stored yet
    test_phase: str | None = None
    tested_run: int | None = None
    refusal: Refusal | None = None

    @property
    def tested_by(self) -> str:
        if self.artifact is None:
            return "no artifact stored yet: run the pipeline to build and test one"
        if self.tested_run is not None:
            return f"run #{self.tested_run} passed {self.test_phase}"
        if self.test_phase:
            return f"NOT TESTED: no run passed {self.test_phase} with this artifact"
        return ""


def tested_bytes(store: RunStore, pipeline: Pipeline | None, phase: str) -> TestedBytes:
    """The one rule every front end and the release stage apply: only bytes that a run tested
    (the phase before the release passed with them) are released."""
    artifacts = store.latest_artifacts()
    if not artifacts:
        return TestedBytes()
    artifact = artifacts[-1]
    test_phase = _phase_before(pipeline, phase)
    if test_phase is None:
        return TestedBytes(artifact)
    for run_id in sorted(set(store.runs_with_artifact(artifact.sha256)), reverse=True):
        if _phase_statuses(store, run_id, pipeline).get(test_phase) is Status.SUCCEEDED:
            return TestedBytes(artifact, test_phase, run_id)
    refusal = Refusal(
        "The artifact was not tested",
        f"{artifact.path} (sha256:{artifact.sha256[:12]}, stored by run #{artifact.run_id}) has "
        f"no run that passed {test_phase}: only the bytes that passed the phase before the "
        "release are released",
        f"Run the pipeline (r on the pipeline view): the release gate comes after "
        f"{test_phase} has tested these bytes. Nothing was changed.",
    )
    return TestedBytes(artifact, test_phase, None, refusal)


def _artifact_facts(context: ReleaseContext, store: RunStore, pipeline: Pipeline | None) -> None:
    """The newest stored artifact, the newest run that tested it, and that run's results."""
    tested = tested_bytes(store, pipeline, context.phase)
    context.artifact, context.tested_run = tested.artifact, tested.tested_run
    context.tested_by = tested.tested_by
    context.refusal = context.refusal or tested.refusal
    test_phase = tested.test_phase
    if context.tested_run is not None and test_phase is not None:
        from cdtui.engine.state import RunState
        from cdtui.presentation import ICONS

        tested = RunState.from_store(store, context.tested_run, pipeline).phases.get(test_phase)
        if tested is not None and tested.stages:
            context.results.append(
                " · ".join(f"{ICONS[s.status]} {s.name}" for s in tested.stages.values())
            )
        for metric in store.metrics(context.tested_run):
            mark = {True: "✓", False: "✗", None: "·"}[metric.ok]
            limit = "" if metric.threshold is None else f" (limit {metric.op} {metric.threshold:g})"
            context.results.append(
                f"{mark} {metric.stage}: {metric.name} {metric.value:.4g}{metric.unit}{limit}"
            )


def _phase_before(pipeline: Pipeline | None, phase: str) -> str | None:
    if pipeline is None:
        return None
    names = [p.name for p in pipeline.phases]
    index = names.index(phase) if phase in names else -1
    return names[index - 1] if index > 0 else None


def _phase_statuses(store: RunStore, run_id: int, pipeline: Pipeline | None) -> dict[str, Status]:
    from cdtui.engine.state import RunState

    state = RunState.from_store(store, run_id, pipeline)
    return {name: ps.status for name, ps in state.phases.items() if ps.stages}


def _commits(context: ReleaseContext, project_dir: Path) -> None:
    """Commits since HEAD at the last release done from here (``released_commits`` rows)."""
    since = _last_released_commit(project_dir)

    def log(span: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "log", "--oneline", "--no-decorate", f"-{MAX_COMMITS + 1}", span],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )

    try:
        out = log(f"{since}..HEAD" if since else "HEAD")
        if out.returncode != 0 and since:  # history rewritten since: say so, list the latest
            out, lost = log("HEAD"), since
            since = ""
        else:
            lost = ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        context.commits_note = f"git not available: {exc}"
        return
    if out.returncode != 0:
        context.commits_note = "not a git repository: no commit list"
        return
    if lost:
        context.warnings.append(f"the last released commit {lost[:10]} is not in this history")
    lines = out.stdout.splitlines()
    context.commits = lines[:MAX_COMMITS]
    more = " (and more)" if len(lines) > MAX_COMMITS else ""
    if since:
        context.commits_note = f"{len(context.commits)}{more} since the last release ({since[:10]})"
    else:
        context.commits_note = f"first release from this directory: latest commits{more}"


def released_commit_path(project_dir: Path) -> Path:
    """Where the released commit is kept: the store (the old released-commit file beside it is
    carried over on first open)."""
    return state_dir(project_dir) / "runs.db"


def _last_released_commit(project_dir: Path) -> str:
    from cdtui.store import RunStore, store_or_old_layout

    if not store_or_old_layout(project_dir):
        return ""
    with RunStore(project_dir) as store:
        return store.last_released_commit()


def head_commit(project_dir: Path) -> str:
    """git HEAD of the project, '' when it is no git checkout (or git does not answer)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""
