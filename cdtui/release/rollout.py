"""The blue/green rollout: preflight the idle colour, shift traffic step by step while health is
analysed, and at the first breach give all traffic back to the live colour at once.

Every router change is recorded as an intent before and as applied after the read-back, so a
cdtui killed at any point leaves a record that tells the next one what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cdtui.config.durations import format_duration
from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event
from cdtui.release.events import HealthSampled, ReleaseStateChanged, WeightChanged
from cdtui.release.health import HealthChecker, Sample
from cdtui.release.routers.base import Router, Weights
from cdtui.store.releases import ReleaseRecords

Emit = Callable[[Event], None]


class State(StrEnum):
    PREFLIGHT = "preflight"
    STEP = "step"
    PAUSED = "paused"
    DONE = "done"
    ABORTED = "aborted"  # a breach, a cancel or an operator's abort: all traffic on live
    ROLLED_BACK = "rolled back"
    FAILED = "failed"  # never shifted traffic (preflight failed)

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.ABORTED, State.ROLLED_BACK, State.FAILED)


class ReleaseError(Exception):
    """A release cannot start or go on; the message names the cause and the next step."""


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def all_on(colour: str) -> Weights:
    return Weights.ALL_BLUE if colour == "blue" else Weights.ALL_GREEN


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    reason: str
    weights: Weights
    live: str  # the colour serving all traffic afterwards (or the heavier one)
    breach_to_live_s: float | None = None  # first failing check of idle -> 100% live


def preflight_limit(need: int, interval: float, timeout: float) -> float:
    """Seconds preflight waits for ``need`` good checks in a row. Checks of a colour never
    overlap, so one comes every ``max(interval, timeout)`` at worst; five spare checks allow for
    a slow start, and one more ``timeout`` for the check in flight at the deadline."""
    return (need + 5) * max(interval, timeout) + timeout


class Rollout:
    """One release on one router. Controls (promote, pause, resume, abort) may come any time."""

    def __init__(
        self,
        spec: ReleaseSpec,
        router: Router,
        records: ReleaseRecords,
        *,
        run_id: int,
        live: str,
        start: Weights,
        steps: Sequence[int] | None = None,
        emit: Emit | None = None,
    ) -> None:
        self.spec = spec
        self.router = router
        self.records = records
        self.run_id = run_id
        self.live = live
        self.idle = other(live)
        self.weights = start
        done = start.of(self.idle)
        self.steps = [s for s in (steps or spec.effective_steps) if s > done] or [100]
        self.emit = emit or (lambda event: None)
        self.state = State.PREFLIGHT
        self.step = done
        self.checker = HealthChecker(
            {"blue": spec.blue.url, "green": spec.green.url}, spec.health, self._sampled
        )
        self._wake = asyncio.Event()
        self._promote = False
        self._paused = False
        self._abort: tuple[State, str] | None = None

    # -- controls ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def promote(self) -> None:
        """End the current hold now: the next step starts without waiting."""
        self._promote = True
        self._wake.set()

    def pause(self) -> None:
        """Stop the hold clock; health analysis (and abort on a breach) goes on."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def abort(self, reason: str = "aborted by the operator", *, rollback: bool = False) -> None:
        """Give all traffic back to the live colour at once."""
        if self._abort is None:
            self._abort = (State.ROLLED_BACK if rollback else State.ABORTED, reason)
        self._wake.set()

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> Outcome:
        self.checker.start()
        try:
            return await self._run()
        except BaseException as exc:
            if self.weights != all_on(self.live) and self.state is not State.DONE:
                why = "the release was interrupted" + (
                    "" if isinstance(exc, asyncio.CancelledError) else f" ({exc})"
                )
                with contextlib.suppress(Exception):  # the first error is the one to report
                    await asyncio.shield(self.to_live(State.ABORTED, why))
            raise
        finally:
            await self.checker.stop()

    async def _run(self) -> Outcome:
        self._set_state(State.PREFLIGHT, f"checking idle {self.idle} before it takes traffic")
        failure = await self._preflight()
        if failure is not None:
            return failure
        live_down = self.step == 0 and await self._live_does_not_answer()
        if live_down:
            why = self.checker.health[self.live].last
            self.steps = [100]
            self._set_state(
                State.PREFLIGHT,
                f"live {self.live} does not answer ({why.error if why else 'no answer'}): idle "
                f"{self.idle} takes all traffic at once (a split would send users to a colour "
                "that is down)",
            )
        for step in self.steps:
            await self._apply(Weights.green_percent(step if self.idle == "green" else 100 - step))
            self.step = step
            self._set_state(State.STEP, f"idle {self.idle} takes {step}% of traffic")
            outcome = await self._hold()
            if outcome is not None:
                return outcome
        self.live, self.idle = self.idle, self.live
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + self.spec.keep_warm))
        reason = (
            f"{self.live} is live; {self.idle} is idle and kept warm for "
            f"{format_duration(self.spec.keep_warm)} (until {until}): rollback is instant"
        )
        if live_down:
            reason = (
                f"{self.live} is live; {self.idle} never answered its health checks, so there "
                f"is no colour to roll back to until {self.idle} is deployed"
            )
        self._set_state(State.DONE, reason)
        return Outcome(State.DONE, reason, self.weights, self.live)

    async def _preflight(self) -> Outcome | None:
        health = self.checker.health[self.idle]
        spec = self.spec.health
        need = spec.preflight
        limit = preflight_limit(spec.preflight, spec.interval, spec.timeout)
        deadline = time.monotonic() + limit
        while health.consecutive_ok < need:
            if self._abort is not None:
                return self._unchanged(self._abort[0], self._abort[1])
            breach = health.breach(spec)
            if breach is None and time.monotonic() > deadline:
                breach = f"not {need} healthy checks in a row within {limit:g}s"
            if breach is not None:
                return self._unchanged(State.FAILED, f"idle {self.idle} failed preflight: {breach}")
            await self._sleep(spec.interval)
        return None

    async def _live_does_not_answer(self) -> bool:
        """Every check of the live colour failed (a fresh project's never-deployed colour)."""
        health = self.checker.health[self.live]
        if health.last is None:
            await self.checker.check_once(self.live)
        return health.last is not None and health.error_rate >= 1.0

    async def _hold(self) -> Outcome | None:
        """Hold the step while analysis runs; an Outcome when the release ends here."""
        health = self.checker.health[self.idle]
        left = self.spec.hold
        last = time.monotonic()
        self._promote = False
        while True:
            if self._abort is not None:
                return await self.to_live(*self._abort)
            breach = health.breach(self.spec.health)
            if breach is not None:
                first_failure = health.first_failure_at or time.monotonic()
                outcome = await self.to_live(State.ABORTED, f"idle {self.idle} {breach}")
                took = time.monotonic() - first_failure  # read back: 100% is on live now
                return Outcome(outcome.state, outcome.reason, outcome.weights, self.live, took)
            now = time.monotonic()
            if not self._paused:
                left -= now - last
            last = now
            if self._paused and self.state is not State.PAUSED:
                self._set_state(State.PAUSED, f"held at {self.step}% by the operator")
            elif not self._paused and self.state is State.PAUSED:
                self._set_state(State.STEP, f"resumed at {self.step}%")
            if self._promote or (left <= 0 and not self._paused):
                return None
            await self._sleep(left if not self._paused else self.spec.health.interval)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _sampled(self, sample: Sample) -> None:
        self.emit(
            HealthSampled(
                self.run_id,
                sample.at,
                sample.colour,
                sample.ok,
                round(sample.latency_ms, 2),
                sample.status,
                sample.error,
                sample.version,
            )
        )
        if sample.colour == self.idle:
            self._wake.set()

    async def to_live(self, state: State, reason: str) -> Outcome:
        """All traffic on the live colour now, recorded; also the way ``rollback`` acts."""
        await self._apply(all_on(self.live))
        self.step = 0
        reason = f"{reason}; all traffic is back on live {self.live}"
        self._set_state(state, reason)
        return Outcome(state, reason, self.weights, self.live)

    def _unchanged(self, state: State, reason: str) -> Outcome:
        self._set_state(state, f"{reason}; traffic unchanged ({self.weights})")
        return Outcome(state, reason, self.weights, self.live)

    async def _apply(self, weights: Weights) -> None:
        before = self.weights
        self.records.intent(self.run_id, self.live, before, weights, weights.of(self.idle))
        self.emit(WeightChanged(self.run_id, time.time(), weights.blue, weights.green, False))
        got = await self.router.set_weights(weights)
        self.weights = got
        self.records.applied(self.run_id, self.live, before, got, got.of(self.idle))
        self.emit(WeightChanged(self.run_id, time.time(), got.blue, got.green, True))

    def _set_state(self, state: State, reason: str) -> None:
        self.state = state
        self.records.state(self.run_id, self.live, state.value, self.step, reason)
        self.emit(ReleaseStateChanged(self.run_id, time.time(), state.value, self.step, reason))
