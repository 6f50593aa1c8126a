"""The monitor: every check on its own fixed-rate clock, results through the alert rules, state
changes into runs.db and onto the session's bus, actions through the front door.

One per project (an flock, ``state.MonitorLock``), forever until stopped. Restart-safe: an alert
that was firing when it stopped is restored as firing from its newest row (never fired again),
and each action's cooldown runs on from when it was last taken. One line per state change goes
to ``say`` (a check's outcome changing, an alert firing or resolving, an action taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdtui.monitor.actions import Actions
from cdtui.monitor.checks import Result, run_check
from cdtui.monitor.rules import AlertRule, CheckerWatch
from cdtui.monitor.state import MonitorLock, Snapshot, write_snapshot
from cdtui.monitor.telling import Telling, clock
from cdtui.monitor.watched import Watched, shared, spread
from cdtui.store.monitor_rows import MonitorRows

if TYPE_CHECKING:
    from cdtui.config.monitor import CheckSpec, MonitorSpec
    from cdtui.monitor.targets import ReleaseTargets

SNAPSHOT_EVERY = 1.0
STOP_GRACE = 20.0
"""Seconds an action in flight (a rollback, say) gets to finish when the monitor is stopped."""


class MonitorService(Telling):
    def __init__(
        self,
        session: Any,
        spec: MonitorSpec,
        checks: list[CheckSpec],
        *,
        targets: ReleaseTargets | None = None,
        say: Callable[[str], None] | None = None,
        masker: Any = None,
    ) -> None:
        self.session = session
        self.project_dir = session.project_dir
        self.spec = spec
        self.targets = targets
        self.say = say or (lambda line: None)
        self.masker = masker
        self.checks = {
            c.name: Watched(
                c, c.conditions, c.interval or spec.interval, deque(maxlen=spec.history)
            )
            for c in checks
        }
        self.rules = {a.name: AlertRule(a) for a in spec.alerts if a.check in self.checks}
        self.checker = {name: CheckerWatch(name) for name in self.checks}
        self.started = time.time()
        self.stopping = asyncio.Event()
        self.actions: Actions | None = None
        self.rows: MonitorRows | None = None
        self._lock = MonitorLock(self.project_dir)
        self._busy: set[asyncio.Task[Any]] = set()
        self._dirty = True
        self._telling = asyncio.Lock()
        self._loud: dict[str, float] = {}  # "ALERT: recover failed" -> when it fired
        self.ready = asyncio.Event()  # restored and checking

    # -- life --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Check until ``stop()`` (or cancel); MonitorBusy when another monitor runs."""
        self._lock.acquire()
        tasks: list[asyncio.Task[Any]] = []
        try:
            self.rows = MonitorRows(self.project_dir)
            restored = await asyncio.to_thread(self._restore)
            if self.targets is not None:
                await self.targets.refresh()
                self.targets.start()
            firing = ", ".join(restored) or "none"
            self.say(
                f"{clock(time.time())} monitor started (pid {os.getpid()}): "
                f"{len(self.checks)} checks, {len(self.rules)} alerts; firing from before: {firing}"
            )
            for name, w in self.checks.items():
                where = self._target(w) or f"{w.spec.target} (when kept warm)"
                self.say(f"  check {name}: {w.spec.kind} {where} every {w.interval:g}s")
            count = len(self.checks)
            tasks = [
                asyncio.create_task(
                    self._loop(w, spread(i, count, w.interval)), name=f"monitor-{n}"
                )
                for i, (n, w) in enumerate(self.checks.items())
            ]
            tasks.append(asyncio.create_task(self._snapshots(), name="monitor-snapshot"))
            self.ready.set()
            await self.stopping.wait()
        except BaseException:  # cancelled (a console quitting): no await may be left to run
            self._close_now(tasks)
            raise
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._finish_actions()
        if self.targets is not None:
            await self.targets.stop()
        if self.rows is not None:
            await asyncio.to_thread(self.rows.sync)
        self._close_now([])

    def _close_now(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Everything that must happen on the way out, without waiting for anything."""
        for task in [*tasks, *self._busy]:
            task.cancel()
        if self.targets is not None:
            self.targets.cancel()
        with contextlib.suppress(Exception):
            self._write_snapshot(pid=0)
        if self.rows is not None:
            self.rows.close()
            self.rows = None
        self._lock.release()
        self.say(f"{clock(time.time())} monitor stopped")

    def stop(self) -> None:
        self.stopping.set()

    async def _finish_actions(self) -> None:
        if not self._busy:
            return
        done, pending = await asyncio.wait(self._busy, timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        del done

    def _restore(self) -> list[str]:
        assert self.rows is not None
        current = self.rows.current()
        self.actions = Actions(self.session, self.rows.last_taken())
        moved = [
            a
            for a in self.rows.actions(200)
            if a.outcome == "done" and a.action in ("rollback", "recover")
        ]
        if moved:
            self.actions.moved = (moved[-1].at, f"{moved[-1].action} of {moved[-1].alert}")
        found = []
        for name, row in current.items():
            if not row.firing:
                continue
            repeats = sum(
                1 for r in self.rows.history(200) if r.alert == name and r.state == "repeated"
            )
            if name in self.rules:
                self.rules[name].restore(row.fired_at, row.at, repeats)
                found.append(name)
            elif name.endswith(": recover failed"):
                self._loud[name] = row.fired_at
            elif name.endswith(": checker") and name[: -len(": checker")] in self.checker:
                watch = self.checker[name[: -len(": checker")]]
                watch.firing, watch.fired_at = True, row.fired_at
                found.append(name)
        return found

    # -- checking ------------------------------------------------------------------------------
    async def _loop(self, watched: Watched, offset: float = 0.0) -> None:
        """Fixed-rate ticks; a check slower than its interval is followed at once by the next."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + offset
        await asyncio.sleep(offset)
        while True:
            watched.lateness.append(loop.time() - next_at)
            target = self._target(watched)
            if target is not None:
                result = await run_check(watched.spec, watched.conditions, target)
                self.observe(watched, result)
            next_at += watched.interval
            delay = next_at - loop.time()
            if delay < 0:
                next_at = loop.time()
            await asyncio.sleep(max(0.0, delay))

    def _target(self, watched: Watched) -> str | None:
        name = watched.spec.name
        if self.targets is None or name not in ("live", "idle"):
            return watched.spec.target
        url = self.targets.url(name)
        if url is None:  # the view names the colour that waits, not the last URL (maybe the other)
            colour = self.targets.colour(name)
            waiting = f"idle {colour}: checked once a release or rollback warms it"
            if (watched.state, watched.waiting) != ("not kept warm", waiting):
                watched.state, watched.waiting = "not kept warm", waiting
                self._dirty = True
        else:
            watched.waiting = ""
        return url

    def observe(self, watched: Watched, result: Result) -> None:
        """One result: history, the check's state line, then every alert on this check."""
        watched.history.append(result)
        self._dirty = True
        if result.target != watched.target:
            if watched.target:
                self.say(f"{clock(result.at)} check {watched.spec.name} now checks {result.target}")
            watched.target = result.target
        if result.outcome != watched.state:
            why = f": {result.detail}" if result.detail else f" ({result.latency_ms:.0f} ms)"
            self.say(
                f"{clock(result.at)} check {watched.spec.name}: {watched.state} -> "
                f"{result.outcome}{why}"
            )
            watched.state = result.outcome
        for rule in self.rules.values():
            if rule.spec.check == watched.spec.name:
                change = rule.observe(result)
                if change is not None:
                    self._spawn(self._alert_changed(rule.spec, watched, change))
        change = self.checker[watched.spec.name].observe(result)
        if change is not None:
            self._spawn(self._checker_changed(watched, change))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._busy.add(task)
        task.add_done_callback(self._busy.discard)

    # -- sharing -------------------------------------------------------------------------------
    async def _snapshots(self) -> None:
        beat = 0.0
        while True:
            now = time.time()
            if self._dirty or now - beat > 5:
                await asyncio.to_thread(self._write_snapshot)
                self._dirty, beat = False, now
            await asyncio.sleep(SNAPSHOT_EVERY)

    def _write_snapshot(self, pid: int | None = None) -> None:
        checks = {name: shared(w) for name, w in list(self.checks.items())}
        snapshot = Snapshot(os.getpid() if pid is None else pid, self.started, time.time(), checks)
        write_snapshot(self.project_dir, snapshot)
