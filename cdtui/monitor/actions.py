"""What a firing alert does, in the order its ``actions:`` list them, each through the front door
(so a rollback is refused exactly as a manual one, and every action is a run with a log).

One action at a time in the whole monitor (two alerts never move traffic at once). Each has a
cooldown, counted from when it was last taken, across restarts (``monitor_actions`` rows). Once
a rollback or recover has moved the traffic, the later traffic actions of the list are skipped:
``[notify, rollback, recover]`` means "roll back; if that is refused or fails, recover". The
same holds across alerts: within a cooldown of the monitor moving traffic, no other alert moves
it again (two alerts on one outage must not roll back, then recover onto the colour that failed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdtui.config.monitor import ActionSpec, AlertSpec

USER = "cdtui-monitor"
TRAFFIC = ("rollback", "recover")


@dataclass(frozen=True, slots=True)
class Taken:
    action: str
    outcome: str  # done | failed | refused | skipped
    reason: str
    run_id: int = 0


class Actions:
    def __init__(
        self,
        session: Any,
        last_taken: dict[tuple[str, str], float],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.last_taken = last_taken
        self.clock = clock
        self.lock = asyncio.Lock()
        self.moved: tuple[float, str] | None = None  # when, and by what, traffic last moved

    def cooling(self, alert: AlertSpec, action: ActionSpec) -> float:
        """Seconds of cooldown left for ``action`` of ``alert`` (0: it may be taken)."""
        cooldown = action.cooldown if action.cooldown is not None else alert.cooldown
        last = self.last_taken.get((alert.name, action.label))
        return 0.0 if last is None else max(0.0, last + cooldown - self.clock())

    async def take(self, alert: AlertSpec, on_taken: Callable[[Taken], None]) -> list[Taken]:
        """Every action of ``alert``, one after the other; each outcome told as it is known."""
        found: list[Taken] = []
        async with self.lock:
            moved = ""
            for action in alert.actions:
                left = self.cooling(alert, action)
                if left:
                    taken = Taken(action.label, "skipped", f"cooling down ({left:.0f}s left)")
                elif action.kind in TRAFFIC and moved:
                    taken = Taken(action.label, "skipped", f"traffic already moved by {moved}")
                elif action.kind in TRAFFIC and (recent := self._recently_moved(alert, action)):
                    taken = Taken(action.label, "skipped", recent)
                else:
                    self.last_taken[(alert.name, action.label)] = self.clock()
                    taken = await self._one(alert, action)
                    if action.kind in TRAFFIC and taken.outcome == "done":
                        moved = action.kind
                        self.moved = (self.clock(), f"{action.kind} of {alert.name}")
                found.append(taken)
                on_taken(taken)
        return found

    def _recently_moved(self, alert: AlertSpec, action: ActionSpec) -> str:
        """Why not to move traffic again now ('' when it may be moved)."""
        if self.moved is None:
            return ""
        cooldown = action.cooldown if action.cooldown is not None else alert.cooldown
        ago = self.clock() - self.moved[0]
        if ago >= cooldown:
            return ""
        return f"traffic was moved {ago:.0f}s ago by {self.moved[1]} (cooldown {cooldown:g}s)"

    async def _one(self, alert: AlertSpec, action: ActionSpec) -> Taken:
        via = f"monitor alert {alert.name}"
        try:
            if action.kind == "notify":
                return Taken("notify", "done", "told through the notification sinks")
            if action.kind == "rollback":
                result = await self.session.rollback(action.phase, via=via, user=USER)
            elif action.kind == "recover":
                provisioned = None
                if action.run:  # {recover: {run: [provision]}}: a fresh environment first
                    provisioned = await self._run(alert, action)
                    if provisioned.outcome != "done":
                        why = f"provisioning {', '.join(action.run)}: {provisioned.reason}"
                        return Taken("recover", "failed", why, provisioned.run_id)
                result = await self.session.recover(action.phase, via=via, user=USER)
                if provisioned is not None and result.refusal is None:
                    reason = f"{', '.join(action.run)}: {provisioned.reason}; {result.reason}"
                    return Taken(
                        "recover", "done" if result.ok else "failed", reason, result.run_id
                    )
            else:
                return await self._run(alert, action)
        except Exception as exc:  # an action that crashes must not end the monitor
            return Taken(action.label, "failed", f"{type(exc).__name__}: {exc}")
        if result.refusal is not None:
            return Taken(action.label, "refused", result.refusal.why, result.run_id)
        if action.kind == "rollback" and result.ok and "already all on" in result.reason:
            # Nothing moved (the last release was rolled back already): the next traffic
            # action (recover) is what can still help.
            why = f"nothing to roll back to: {result.reason}"
            return Taken(action.label, "refused", why, result.run_id)
        outcome = "done" if result.ok else "failed"
        return Taken(action.label, outcome, result.reason, result.run_id)

    async def _run(self, alert: AlertSpec, action: ActionSpec) -> Taken:
        """``run: [STAGES or a PHASE]``: a run of those (gates of named phases approved by the
        pipeline file's own word), through the front door like any run."""
        from cdtui.engine.engine import EngineOptions

        session = self.session
        if session.running:
            return Taken(action.label, "skipped", "a run is in progress in this monitor")
        phases = [
            p.name
            for p in session.pipeline.phases
            if p.name.lower() in {n.lower() for n in action.run}
        ]
        stages = [n for n in action.run if n.lower() not in {p.lower() for p in phases}]
        plan = session.plan(phases, stages)
        options = EngineOptions(user=USER, approve=frozenset(phases), interactive_gates=False)
        engine = session.start(plan, options=options, selection=f"monitor: {alert.name}")
        status = await session.task
        reason = f"run #{engine.run_id} {status.lower()}"
        return Taken(action.label, "done" if status.ok else "failed", reason, engine.run_id)
