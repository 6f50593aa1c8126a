"""What every release action does first: lock the router, compare it with the last record, and
only then act. Shared by the CLI commands and the engine's release phase.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cdtui.config.release import ReleaseSpec, RouterSpec
from cdtui.release.health import Sample, probe
from cdtui.release.rollout import (
    Emit,
    Outcome,
    ReleaseError,
    Rollout,
    State,
    all_on,
    other,
)
from cdtui.release.routers import Router, Weights, make_router
from cdtui.release.routers.files import pid_alive
from cdtui.store.releases import ReleaseRecord, ReleaseRecords, RouterLock, router_key


class ReleaseDrift(ReleaseError):
    """The router holds other weights than cdtui last recorded: someone or something moved them."""


def key_of(spec: RouterSpec) -> str:
    if spec.kind == "haproxy":
        return router_key("haproxy", f"{spec.socket}/{spec.backend}")
    if spec.kind == "alb":
        return router_key("alb", str(spec.listener_arn))
    return router_key("embedded", spec.listen)


@dataclass
class Handle:
    """A locked router with its records, for one action."""

    spec: ReleaseSpec
    router: Router
    records: ReleaseRecords
    project_dir: Path

    @property
    def fix(self) -> str:
        shown = str(self.project_dir)
        return (
            f"run `cdtui release --reconcile {shown}` to adopt the router's weights as the record "
            f"and go on, or `cdtui rollback {shown}` to put all traffic on the live colour"
        )


@contextlib.asynccontextmanager
async def locked(spec: ReleaseSpec, project_dir: Path) -> AsyncIterator[Handle]:
    """The router, its records and its lock (ReleaseLocked when another cdtui holds it)."""
    lock = RouterLock(project_dir, key_of(spec.router))
    lock.acquire()
    async with holding(spec, project_dir, lock) as handle:
        yield handle


@contextlib.asynccontextmanager
async def holding(spec: ReleaseSpec, project_dir: Path, lock: RouterLock) -> AsyncIterator[Handle]:
    """The router and its records while ``lock`` (acquired) is held; released at the end."""
    records = ReleaseRecords(project_dir, lock.key)
    router = make_router(spec.router, project_dir)
    try:
        yield Handle(spec, router, records, project_dir)
    finally:
        with contextlib.suppress(Exception):
            await router.close()
        records.close()
        lock.release()


def difference(actual: Weights, last: ReleaseRecord | None) -> str | None:
    """What differs between the router and the last record, in one sentence; None when equal."""
    if last is None or last.to_weights is None:
        return None
    if last.kind == "intent":
        if actual == last.to_weights:
            did = "it did apply"
        elif actual == last.from_weights:
            did = "it did not apply"
        else:
            did = "and the router holds neither the old nor the new weights"
        return (
            f"the last change was never confirmed (run {last.run_id} asked "
            f"{last.from_weights} -> {last.to_weights} and stopped); the router holds {actual}: "
            f"{did}"
        )
    if actual != last.to_weights:
        return (
            f"the router holds {actual} but the last record says {last.to_weights} "
            f"({last.describe()}): it was changed outside cdtui"
        )
    return None


def live_colour(actual: Weights, records: ReleaseRecords) -> str:
    """All traffic on one colour makes it live; a split keeps the live colour of its release."""
    if actual in (Weights.ALL_BLUE, Weights.ALL_GREEN):
        return "blue" if actual == Weights.ALL_BLUE else "green"
    last = records.last_state() or records.last_weights()
    if last is not None:
        return last.live  # rows carry the colour live when written (after done: the new one)
    return "blue" if actual.blue >= actual.green else "green"


async def prepare(
    handle: Handle,
    *,
    run_id: int,
    reconcile: bool = False,
    steps: Sequence[int] | None = None,
    emit: Emit | None = None,
) -> tuple[Rollout, str]:
    """A Rollout that starts from what the router holds; ReleaseDrift unless that matches the
    record (or ``reconcile`` adopts it). Also returns a note for the operator, possibly empty."""
    actual = await handle.router.get_weights()
    last = handle.records.last_weights()
    note = ""
    differs = difference(actual, last)
    live = live_colour(actual, handle.records)
    if differs is not None:
        if not reconcile:
            raise ReleaseDrift(f"{differs}: nothing was changed; {handle.fix}")
        handle.records.reconciled(run_id, live, actual, f"adopted by the operator: {differs}")
        note = f"reconciled: {differs}; the record now says {actual}"
    if actual.of(other(live)) > 0:
        note = (note + "; " if note else "") + (
            f"resuming an unfinished release: idle {other(live)} already has "
            f"{actual.of(other(live))}%"
        )
    rollout = Rollout(
        handle.spec,
        handle.router,
        handle.records,
        run_id=run_id,
        live=live,
        start=actual,
        steps=steps,
        emit=emit,
    )
    return rollout, note


def rollback_target(actual: Weights | None, last_state: ReleaseRecord | None) -> str:
    """Where a rollback puts all traffic: the colour live before the latest release (its old
    live colour when that release was done, else the live colour it was shifting away from);
    with no release recorded, the colour that has most traffic now."""
    if last_state is None:
        weights = actual or Weights.ALL_BLUE
        return "blue" if weights.blue >= weights.green else "green"
    if last_state.state == State.DONE.value:
        return other(last_state.live)
    return last_state.live


async def rollback(handle: Handle, *, run_id: int, emit: Emit | None = None) -> Outcome:
    """All traffic to the colour that was live before the latest release, at once.

    Never refused for a difference with the record: it is the way out; the difference is told.
    """
    actual = await handle.router.get_weights()
    last_state = handle.records.last_state()
    differs = difference(actual, handle.records.last_weights())
    target = rollback_target(actual, last_state)
    if last_state is None and actual == all_on(target):
        raise ReleaseError(f"nothing to roll back: no release recorded and {actual} in force")
    note = f" (before: {differs})" if differs else ""
    if actual == all_on(target):
        return Outcome(State.ROLLED_BACK, f"already all on {target}{note}", actual, target)
    rollout = Rollout(
        handle.spec,
        handle.router,
        handle.records,
        run_id=run_id,
        live=target,
        start=actual,
        emit=emit,
    )
    return await rollout.to_live(State.ROLLED_BACK, f"rolled back from {actual}{note}")


@dataclass(frozen=True)
class StatusReport:
    weights: Weights | None
    router_error: str
    describe: dict[str, str]
    health: dict[str, str]
    state: ReleaseRecord | None
    last: ReleaseRecord | None
    difference: str | None
    live: str = "blue"
    samples: tuple[Sample, ...] = ()

    @property
    def driverless(self) -> bool:
        """A release in progress whose driving cdtui is gone: nobody moves or watches it."""
        state = self.state
        return bool(state and not State(state.state).finished and not pid_alive(state.pid))

    @property
    def problems(self) -> list[str]:
        """What makes ``cdtui status`` exit non-zero: each an operator must act on."""
        found = []
        if self.router_error:
            found.append(f"the router does not answer: {self.router_error}")
        if self.difference:
            found.append(f"the router and the record disagree: {self.difference}")
        for sample in self.samples:
            if sample.colour == self.live and not sample.ok:
                found.append(f"live {self.live} is UNHEALTHY: {sample.error}")
        return found

    @property
    def rollback_note(self) -> str:
        """Whether a rollback now would put users on a colour that answers."""
        target = rollback_target(self.weights, self.state)
        if self.router_error:
            return "NOT possible now: the router does not answer"
        for sample in self.samples:
            if sample.colour == target and not sample.ok and target != self.live:
                return f"NOT safe now: {target} (where it would go) is UNHEALTHY: {sample.error}"
        return f"to {target}" + (" (it is live already)" if target == self.live else "")

    def as_dict(self) -> dict[str, object]:
        """For ``cdtui status --json`` and scripts."""

        def record(r: ReleaseRecord | None) -> dict[str, object] | None:
            if r is None:
                return None
            return {
                "run_id": r.run_id,
                "kind": r.kind,
                "live": r.live,
                "state": r.state,
                "step": r.step,
                "reason": r.reason,
                "to": None if r.to_weights is None else r.to_weights.as_dict(),
                "at": r.at,
                "pid": r.pid,
            }

        return {
            "weights": None if self.weights is None else self.weights.as_dict(),
            "router_error": self.router_error,
            "router": self.describe,
            "health": self.health,
            "release": record(self.state),
            "record": record(self.last),
            "difference": self.difference,
            "live": self.live,
            "checks": {
                s.colour: {
                    "ok": s.ok,
                    "latency_ms": round(s.latency_ms, 2),
                    "status": s.status,
                    "error": s.error,
                }
                for s in self.samples
            },
            "driverless": self.driverless,
            "rollback": self.rollback_note,
            "problems": self.problems,
        }

    def lines(self) -> list[str]:
        error = f" ({self.router_error})" if self.router_error else ""
        out = [f"split:      {self.weights or 'unknown'}{error}"]
        for key, value in self.describe.items():
            out.append(f"  {key}: {value}")
        for colour, text in self.health.items():
            out.append(f"{colour + ':':<11} {text}")
        state = self.state
        reason = state.reason if state else ""
        if state and "rollback is instant" in reason and not self.rollback_note.startswith("to "):
            reason = reason.replace(": rollback is instant", "")  # not true now: said below
        out.append(
            "release:    "
            + (f"{state.state} at {state.step}% ({reason})" if state else "none recorded")
        )
        if state and self.driverless:
            out.append(
                f"DRIVERLESS: the cdtui process driving it (pid {state.pid}) is gone and nobody "
                "moves or watches it; `cdtui release` resumes it, `cdtui rollback` returns "
                "traffic to live"
            )
        out.append(f"rollback:   {self.rollback_note}")
        out.append("record:     " + (self.last.describe() if self.last else "none"))
        if self.difference:
            out.append(f"DIFFERS:    {self.difference}")
        for problem in self.problems:
            out.append(f"PROBLEM:    {problem}")
        return out


async def status(spec: ReleaseSpec, project_dir: Path) -> StatusReport:
    """Read-only: takes no lock, changes nothing."""
    key = key_of(spec.router)
    records = ReleaseRecords(project_dir, key)
    router = make_router(spec.router, project_dir)
    weights: Weights | None = None
    error = ""
    facts: dict[str, str] = {}
    try:
        try:
            weights = await router.get_weights()
            facts = await router.describe()
        except Exception as exc:  # shown, not raised: status must say what it can
            error = str(exc)
        samples = await asyncio.gather(
            probe("blue", spec.blue.url, spec.health), probe("green", spec.green.url, spec.health)
        )
        health = {
            s.colour: ("healthy" if s.ok else f"UNHEALTHY: {s.error}") + f" ({s.latency_ms:.0f} ms)"
            for s in samples
        }
        last = records.last_weights()
        differs = difference(weights, last) if weights is not None else None
        state = records.last_state()
        if weights is not None:
            live = live_colour(weights, records)
        else:
            live = state.live if state is not None else "blue"
        return StatusReport(
            weights, error, facts, health, state, last, differs, live, tuple(samples)
        )
    finally:
        records.close()
        with contextlib.suppress(Exception):
            await router.close()
