"""How the monitor tells an alert's state change: a row committed in runs.db first (a crash
cannot fire it twice), then the event on the session's bus (the event log, the sinks) and one
line, then the alert's actions, each recorded and told as it ends. State changes keep their
order (``_telling``). A recover that fails fires a loud alert of its own."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from cdtui.engine.events import AlertFired, AlertResolved, Event, MonitorActionTaken
from cdtui.monitor.evidence import gather_logs
from cdtui.store.monitor_rows import ActionRow, AlertRow

if TYPE_CHECKING:
    from cdtui.config.monitor import AlertSpec
    from cdtui.monitor.actions import Taken
    from cdtui.monitor.rules import Change
    from cdtui.monitor.watched import Watched

EVIDENCE_CHECKS = 10


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def checker_alert(check: str) -> str:
    return f"{check}: checker"


def loud_alert(alert: str) -> str:
    return f"{alert}: recover failed"


class Telling:
    """The telling half of ``MonitorService`` (which holds the state it reads)."""

    session: Any
    rows: Any
    actions: Any
    rules: dict[str, Any]
    checker: dict[str, Any]
    spec: Any
    targets: Any
    project_dir: Any
    masker: Any
    say: Any
    _telling: asyncio.Lock
    _loud: dict[str, float]

    def _spawn(self, work: Any) -> None:
        raise NotImplementedError

    def _emit(self, event: Event) -> None:
        self.session.bus.emit(event)

    def _mask(self, text: str) -> str:
        return self.masker.mask_text(text) if self.masker is not None else text

    def _evidence(self, watched: Watched) -> dict[str, Any]:
        recent = list(watched.history)[-EVIDENCE_CHECKS:]
        return {"target": watched.target, "checks": [r.as_dict() for r in recent]}

    async def _commit(self, row: AlertRow) -> None:
        assert self.rows is not None
        await asyncio.to_thread(self.rows.commit_alert, row)

    async def _alert_changed(self, alert: AlertSpec, watched: Watched, change: Change) -> None:
        """Recorded, then told, then acted on; state changes keep their order (``_telling``)."""
        assert self.actions is not None
        now = time.time()
        text = self._mask(change.text)
        notify = next((a for a in alert.actions if a.kind == "notify"), None)
        quiet = notify is None
        evidence = self._evidence(watched)
        state = {"fired": "firing"}.get(change.kind, change.kind)
        async with self._telling:
            await self._commit(
                AlertRow(
                    alert.name,
                    state,
                    alert.check,
                    "service",
                    text,
                    alert.level,
                    change.fired_at,
                    now,
                    evidence,
                )
            )
            if change.kind == "resolved":
                self._emit(
                    AlertResolved(
                        0, now, alert.name, alert.check, text, change.fired_at, quiet=quiet
                    )
                )
                self.say(f"{clock(now)} RESOLVED {text}")
                await self._calm_loud(alert, watched, now)
                return
            if change.kind == "repeated":
                repeat = self.rules[alert.name].repeats
                self._emit(
                    AlertFired(
                        0,
                        now,
                        alert.name,
                        alert.check,
                        text,
                        alert.level,
                        repeat=repeat,
                        quiet=quiet,
                    )
                )
                self.say(f"{clock(now)} STILL FIRING {text}")
                return
            quiet = quiet or bool(notify and self.actions.cooling(alert, notify))
            self._emit(AlertFired(0, now, alert.name, alert.check, text, alert.level, quiet=quiet))
            self.say(f"{clock(now)} FIRED {text} -> {', '.join(a.label for a in alert.actions)}")
        logs = alert.logs or self.spec.logs
        if logs:
            self._spawn(self._store_logs(alert, logs, watched, change.fired_at))
        await self.actions.take(alert, lambda taken: self._taken(alert, watched, taken))

    async def _store_logs(
        self, alert: AlertSpec, logs: Any, watched: Watched, fired: float
    ) -> None:
        env = {}
        if self.targets is not None and alert.check in ("live", "idle"):
            colour = self.targets.colour(alert.check)
            env = {"CDTUI_COLOUR": colour, "CDTUI_COLOUR_URL": watched.target}
        output = self._mask(await gather_logs(logs, self.project_dir, env))
        await self._commit(
            AlertRow(
                alert.name,
                "evidence",
                alert.check,
                "service",
                f"logs of {alert.name}",
                alert.level,
                fired,
                time.time(),
                {"logs": output},
            )
        )

    def _taken(self, alert: AlertSpec, watched: Watched, taken: Taken) -> None:
        now = time.time()
        reason = self._mask(taken.reason)
        assert self.rows is not None
        self.rows.add_action(
            ActionRow(alert.name, taken.action, taken.outcome, reason, taken.run_id, now)
        )
        what = f"{taken.action} of {alert.name}: {taken.outcome}"
        self._emit(
            MonitorActionTaken(
                taken.run_id, now, alert.name, taken.action, taken.outcome, reason, what
            )
        )
        self.say(f"{clock(now)} action {what}: {reason}")
        if taken.action == "recover" and taken.outcome in ("failed", "refused"):
            self._spawn(self._cannot_start(alert, watched, reason))

    async def _cannot_start(self, alert: AlertSpec, watched: Watched, reason: str) -> None:
        """Recover failed: nothing can start. Loud: an error alert of its own, always told,
        resolved with the alert that asked for the recover."""
        now = time.time()
        name = loud_alert(alert.name)
        self._loud[name] = now
        text = f"RECOVER FAILED for {alert.name}: nothing can start: {reason}"
        await self._commit(
            AlertRow(
                name,
                "firing",
                alert.check,
                "service",
                text,
                "error",
                now,
                now,
                self._evidence(watched),
            )
        )
        self._emit(AlertFired(0, now, name, alert.check, text, "error"))
        self.say(f"{clock(now)} FIRED {text}")

    async def _calm_loud(self, alert: AlertSpec, watched: Watched, now: float) -> None:
        name = loud_alert(alert.name)
        fired = self._loud.pop(name, None)
        if fired is None:
            return
        text = f"{name}: resolved with {alert.name}"
        await self._commit(
            AlertRow(
                name,
                "resolved",
                alert.check,
                "service",
                text,
                "error",
                fired,
                now,
                self._evidence(watched),
            )
        )
        self._emit(AlertResolved(0, now, name, alert.check, text, fired))
        self.say(f"{clock(now)} RESOLVED {text}")

    async def _checker_changed(self, watched: Watched, change: Change) -> None:
        now = time.time()
        name = checker_alert(watched.spec.name)
        state = "resolved" if change.kind == "resolved" else "firing"
        async with self._telling:
            await self._commit(
                AlertRow(
                    name,
                    state,
                    watched.spec.name,
                    "checker",
                    change.text,
                    "warning",
                    change.fired_at,
                    now,
                    self._evidence(watched),
                )
            )
            if state == "resolved":
                self._emit(
                    AlertResolved(
                        0,
                        now,
                        name,
                        watched.spec.name,
                        change.text,
                        change.fired_at,
                        cause="checker",
                    )
                )
                self.say(f"{clock(now)} RESOLVED {change.text}")
            else:
                self._emit(
                    AlertFired(
                        0, now, name, watched.spec.name, change.text, "warning", cause="checker"
                    )
                )
                self.say(f"{clock(now)} CHECKER {change.text}")
