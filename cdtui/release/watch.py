"""What the release and monitor views draw, folded from release events and from polling: the
split read back from the router, per-colour health series, the rollout's state and timeline, and
alerts. UI-free, so the console, tests and any other renderer read the same facts.

Samples come from the engine's rollout while this process releases (its own health checker), and
from a watcher's checker otherwise, so the graphs never stop and never count a check twice.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import (
    Event,
    GateApproved,
    GateWaiting,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
)
from cdtui.release.events import (
    ColourDeployed,
    HealthSampled,
    ReleaseStateChanged,
    WeightChanged,
)
from cdtui.release.health import WINDOW, HealthWindow, percentile
from cdtui.release.routers.base import Weights

SERIES_SECONDS = 120
"""How much history the graphs keep, one bucket per second."""
TIMELINE = 200


def shown_url(url: str) -> str:
    """A URL fit for the screen and logs: any user:password@ is left out."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class Check:
    at: float
    ok: bool
    latency_ms: float
    status: int
    error: str = ""
    version: str = ""

    def describe(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        what = f"HTTP {self.status}" if self.status else "no answer"
        tail = f" {self.error}" if self.error and not self.ok else ""
        return f"{clock} {'ok ' if self.ok else 'BAD'} {what} {self.latency_ms:5.0f} ms{tail}"


@dataclass
class _Bucket:
    second: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    total: int = 0


class ColourSeries(HealthWindow[Check]):
    """One colour as the views show it: the last checks (never reset, unlike the rollout's
    ColourHealth), per-second buckets for the graphs, and whether an alert is out."""

    def __init__(self, colour: str, failures_to_alert: int = 3) -> None:
        super().__init__(WINDOW)
        self.colour = colour
        self.buckets: deque[_Bucket] = deque(maxlen=SERIES_SECONDS)
        self.failures_to_alert = failures_to_alert
        self.ok_seen = False  # a colour never seen healthy (not deployed yet) raises no alert
        self.alerting = False  # an "unhealthy" alert is out, so recovery is worth telling
        self.version = ""  # the last version the colour's health answer told

    def add(self, check: Check) -> None:
        super().add(check)
        self.ok_seen = self.ok_seen or check.ok
        if check.version:
            self.version = check.version
        second = int(check.at)
        if not self.buckets or self.buckets[-1].second < second:
            self.buckets.append(_Bucket(second))
        bucket = self.buckets[-1]
        bucket.total += 1
        if check.ok:
            bucket.latencies.append(check.latency_ms)
        else:
            bucket.failures += 1

    @property
    def known(self) -> bool:
        return bool(self.recent)

    @property
    def healthy(self) -> bool:
        """Healthy once it has passed a check and not failed ``failures_to_alert`` in a row."""
        return self.ok_seen and self.consecutive_failures < self.failures_to_alert

    def series(self, kind: str, width: int, now: float) -> list[float]:
        """``width`` per-second values ending now: p50, p95 (ms) or errors (fraction, 0..1).

        A second without checks repeats the value before it, so the graph does not dip to zero.
        """
        end = int(now)
        by_second = {b.second: b for b in self.buckets}
        values: list[float] = []
        last = 0.0
        for second in range(end - width + 1, end + 1):
            bucket = by_second.get(second)
            if bucket is not None and bucket.total:
                if kind == "errors":
                    last = bucket.failures / bucket.total
                else:
                    last = percentile(bucket.latencies, 50 if kind == "p50" else 95) or last
            values.append(last)
        return values

    def summary(self) -> str:
        if not self.recent:
            return "not checked yet"
        p50, p95 = self.latency(50), self.latency(95)
        shown = "-" if p95 is None else f"{p50:.0f}/{p95:.0f} ms"
        state = "healthy" if self.healthy else "UNHEALTHY" if self.ok_seen else "DOWN (never up)"
        return f"{state} · p50/p95 {shown} · errors {self.error_rate:.0%} of {len(self.recent)}"


@dataclass(frozen=True, slots=True)
class Moment:
    """One line of the timeline: a state change, a weight change, a verdict, an alert."""

    at: float
    text: str
    level: str = "info"  # info | success | warning | error

    def describe(self) -> str:
        return f"{time.strftime('%H:%M:%S', time.localtime(self.at))}  {self.text}"


@dataclass
class Deployed:
    """What a colour runs, when cdtui deployed it."""

    digest: str = ""
    artifact: str = ""
    run_id: int | None = None  # the run that built (stored) these bytes


class ReleaseWatch:
    """Folds release events and polled facts into what the views draw."""

    def __init__(self, spec: ReleaseSpec, phase: str = "") -> None:
        self.spec = spec
        self.phase = phase
        failures = spec.health.consecutive_failures
        self.colours = {c: ColourSeries(c, failures) for c in ("blue", "green")}
        self.weights: Weights | None = None
        self.asked: Weights | None = None  # a change asked for and not yet read back
        self.router_error = ""
        self.state = ""  # the rollout's state, '' before any
        self.step = 0
        self.reason = ""
        self.live = "blue"
        self.step_started: float | None = None
        self.paused_at: float | None = None
        self.paused_total = 0.0
        self.releasing = False  # this process's engine runs the release phase now
        self._phase_states: list[str] = []  # the rollout states the running phase went through
        self.gate_waiting = False  # this process's run waits at the release gate
        self.timeline: deque[Moment] = deque(maxlen=TIMELINE)
        self.verdicts: list[Moment] = []
        self.alerts: deque[Moment] = deque(maxlen=TIMELINE)
        self.deployed: dict[str, Deployed] = {"blue": Deployed(), "green": Deployed()}
        self.public = ColourSeries("public", failures)  # the router's own address, as users see
        self.own_runs: set[int] = set()  # runs whose states reached us as events
        self.driver_pid: int | None = None  # the cdtui that records the release in progress
        self.driverless = False  # ... and it is gone: nobody moves or watches the release
        self.on_alert: Callable[[Moment], None] | None = None
        self.changed = True

    # -- facts in ---------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """An engine event; cheap, called on the event loop."""
        if isinstance(event, HealthSampled):
            self.sample(
                event.colour,
                Check(
                    event.at, event.ok, event.latency_ms, event.status, event.error, event.version
                ),
            )
        elif isinstance(event, WeightChanged):
            weights = Weights(event.blue, event.green)
            if event.applied:
                self.read_back(weights, event.at)
            else:
                self.asked = weights
        elif isinstance(event, ColourDeployed):
            self.deployed[event.colour] = Deployed(event.sha256, event.artifact, event.built_by)
            self.note(
                event.at, f"{event.colour} deployed: {event.artifact} sha256:{event.sha256[:12]}"
            )
        elif isinstance(event, ReleaseStateChanged):
            self.own_runs.add(event.run_id)
            self.driver_pid, self.driverless = None, False  # this process drives it now
            self._phase_states.append(event.state)
            self.rollout_state(event.state, event.step, event.reason, event.at)
        elif isinstance(event, GateWaiting) and event.phase == self.phase:
            self.gate_waiting = True
            self.note(event.at, f"waiting at the {event.phase} gate: r reviews the release")
        elif isinstance(event, GateApproved | RunFinished) and self.gate_waiting:
            self.gate_waiting = False
        elif isinstance(event, PhaseStarted) and event.phase == self.phase:
            self.releasing = True
            self.gate_waiting = False
            self.verdicts.clear()
            self._phase_states = []
            self.note(event.at, f"release phase {event.phase} started")
        elif isinstance(event, PhaseFinished) and event.phase == self.phase:
            self.releasing = False
            level = "success" if event.status.ok else "error"
            # a rollback (a run of its own) moves straight to "rolled back": say what ended
            what = "rollback" if self._phase_states == ["rolled back"] else "release phase"
            self.note(event.at, f"{what} {event.status.lower()}", level)
        elif isinstance(event, Notice) and event.phase == self.phase:
            told = event.text.startswith("release ") or event.text == self.reason
            if not told:  # state changes (and the phase's reason) are in the timeline already
                self.note(event.at, event.text.splitlines()[-1][:200], event.level)
        else:
            return
        self.changed = True

    def sample(self, colour: str, check: Check) -> None:
        series = self.public if colour == "public" else self.colours.get(colour)
        if series is None:
            return
        was = series.healthy
        series.add(check)
        now = series.healthy
        if was and not now:
            series.alerting = True
            self._alert(
                check.at,
                f"{colour} unhealthy: {series.consecutive_failures} failed "
                f"checks in a row ({check.error})",
                "error",
            )
        elif now and series.alerting and series.consecutive_ok >= series.failures_to_alert:
            series.alerting = False
            self._alert(check.at, f"{colour} healthy again", "success")

        self.changed = True

    def read_back(self, weights: Weights, at: float | None = None) -> None:
        """The router's weights as read back (after a change, or by polling)."""
        at = time.time() if at is None else at
        if self.weights is not None and weights != self.weights:
            self.note(at, f"router: {weights}")
        self.weights = weights
        if weights in (Weights.ALL_BLUE, Weights.ALL_GREEN) and not self.active:
            self.live = "blue" if weights == Weights.ALL_BLUE else "green"
        if self.asked == weights:
            self.asked = None
        self.router_error = ""
        self.changed = True

    def driver(self, pid: int | None, alive: bool) -> None:
        """Who drives the release in progress (another cdtui's, read from its records)."""
        gone = pid is not None and not alive
        if (pid, gone) != (self.driver_pid, self.driverless):
            if gone and not self.driverless:
                self._alert(time.time(), f"DRIVERLESS: {self.driverless_text()}", "error")
            self.driver_pid, self.driverless = pid, gone
            self.changed = True

    def driverless_text(self) -> str:
        """``...is gone: <the ways out>``; at 100% all traffic has moved: nothing to resume."""
        gone = f"the cdtui driving it (pid {self.driver_pid}) is gone"
        if self.step >= 100:
            return f"{gone}: all traffic is on {self.idle} (its last hold cut short); b rolls back"
        return f"{gone}: r resumes it from {self.step}%, b rolls back"

    def router_down(self, error: str) -> None:
        if error != self.router_error:
            self.router_error = error
            self.changed = True

    def rollout_state(self, state: str, step: int, reason: str, at: float) -> None:
        """The rollout moved to ``state`` (from an event, or from another cdtui's records)."""
        before, previous_step = self.state, self.step
        if before in ("step", "paused"):
            if (state == "step" and step != previous_step) or state == "done":
                self._verdict(at, previous_step, passed=True)
            elif state in ("aborted", "rolled back"):
                self._verdict(at, previous_step, passed=False, why=reason)
        if state == "preflight":
            self.verdicts.clear()
        if state == "paused" and self.paused_at is None:
            self.paused_at = at
        elif state != "paused" and self.paused_at is not None:
            self.paused_total += at - self.paused_at
            self.paused_at = None
        if state == "step" and (before != "paused" or step != previous_step):
            self.step_started, self.paused_total = at, 0.0
        if state == "done":
            self.live = self.idle
        self.state, self.step, self.reason = state, step, reason
        level = {
            "done": "success",
            "aborted": "error",
            "failed": "error",
            "rolled back": "warning",
            "paused": "warning",
        }.get(state, "info")
        if state in ("aborted", "failed"):
            # The session raises this alert on the bus for every front end (Session).
            self._alert(at, f"release {state} at {previous_step}%: {reason}", "error", tell=False)
        else:
            where = f" at {step}%" if step else ""  # a return to live is 0% by definition
            self.note(at, f"{state}{where}: {reason}", level)

    def _verdict(self, at: float, step: int, *, passed: bool, why: str = "") -> None:
        """What the analysis saw of the idle colour while this step was held."""
        idle = self.colours["green" if self.live == "blue" else "blue"]
        since = self.step_started or 0.0
        held = [c for c in idle.recent if c.at >= since]
        failed = sum(not c.ok for c in held)
        p95 = percentile([c.latency_ms for c in held if c.ok], 95)
        facts = f"{len(held) - failed}/{len(held)} checks ok, p95 " + (
            "-" if p95 is None else f"{p95:.0f} ms"
        )
        if passed:
            then = "released" if step == 100 else "next step"
            moment = Moment(at, f"{step}%: healthy ({facts}): {then}", "success")
        else:
            moment = Moment(at, f"{step}%: stopped: {why.split(';')[0]}", "error")
        self.verdicts.append(moment)

    def note(self, at: float, text: str, level: str = "info") -> None:
        """One line on the timeline."""
        self.timeline.append(Moment(at, text, level))

    def _alert(self, at: float, text: str, level: str, *, tell: bool = True) -> None:
        """Shown here; told (``on_alert``: onto the bus) unless the core raises it itself."""
        moment = Moment(at, text, level)
        self.alerts.append(moment)
        self.timeline.append(moment)
        if tell and self.on_alert is not None:
            self.on_alert(moment)

    # -- facts out --------------------------------------------------------------------------
    @property
    def idle(self) -> str:
        return "green" if self.live == "blue" else "blue"

    @property
    def active(self) -> bool:
        return self.state in ("preflight", "step", "paused")

    def hold_left(self, now: float | None = None) -> float | None:
        """Seconds until the next step, None when no step is being held (nor by anyone)."""
        if self.state not in ("step", "paused") or self.step_started is None or self.driverless:
            return None
        now = time.time() if now is None else now
        paused = self.paused_total + ((now - self.paused_at) if self.paused_at else 0.0)
        return max(0.0, self.spec.hold - (now - self.step_started - paused))

    def plan_text(self) -> str:
        """The steps as the operator reads them: 10% → 25% → 50% → 100%, holding 4s each."""
        from cdtui.config.durations import format_duration

        steps = " → ".join(f"{s}%" for s in self.spec.effective_steps)
        return f"{steps}, holding {format_duration(self.spec.hold)} each"
