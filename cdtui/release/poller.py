"""Keeps a ReleaseWatch fresh when no rollout in this process feeds it: the router's weights read
back every second, health checks of both colours and of the router's public address, and the
release records another cdtui may be writing. Alerts are ``alerts`` rows in runs.db (the old
STATE/alerts.jsonl is carried into them on first open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from cdtui.engine.events import Event
from cdtui.release.control import key_of, pid_alive
from cdtui.release.events import AlertRaised
from cdtui.release.health import probe
from cdtui.release.routers import RouterError, RouterUnreachable, make_router
from cdtui.release.routers.files import RouterPaths
from cdtui.release.watch import Check, Moment, ReleaseWatch
from cdtui.store.paths import state_dir

ROUTER_POLL = {"embedded": 1.0, "haproxy": 1.0, "alb": 5.0}
"""Seconds between read-backs; an ALB is read through AWS API calls, which are rate-limited."""
KEEP_ALERTS = 100
log = logging.getLogger("cdtui.release")


def alerts_path(project_dir: Path) -> Path:
    """Where alerts are kept: the store (the old alerts.jsonl beside it is carried over)."""
    return state_dir(project_dir) / "runs.db"


def load_alerts(project_dir: Path, limit: int = KEEP_ALERTS) -> list[Moment]:
    """The newest ``limit`` stored alerts, oldest first (none where no store was ever made)."""
    from cdtui.store import RunStore, store_or_old_layout

    if not store_or_old_layout(project_dir):
        return []
    with RunStore(project_dir) as store:
        return [Moment(a.at, a.text, a.level) for a in store.alerts(limit)]


def store_alert(project_dir: Path, moment: Moment, source: str = "release") -> None:
    """One ``alerts`` row outside a session (tools, tests), written as the store writes an
    ``AlertRaised`` event; a console tells its alerts on the bus instead (``tell``). A store
    that cannot be opened loses the stored copy, never the alert on screen."""
    from cdtui.store import RunStore

    try:
        with RunStore(project_dir) as store:
            store.record(AlertRaised(0, moment.at, moment.text, moment.level, source))
    except Exception as exc:  # full or read-only disk, broken runs.db
        log.warning("alert not stored: %s: %s", type(exc).__name__, exc)


class ReleasePoller:
    """Background tasks feeding ``watch``; start() on the running loop, stop() to end them."""

    def __init__(
        self,
        watch: ReleaseWatch,
        project_dir: Path,
        *,
        tell: Callable[[Event], None] | None = None,
    ) -> None:
        self.watch = watch
        self.project_dir = Path(project_dir)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_seq = 0
        self.tell = tell  # the session bus's emit; None in a read-only console (it writes nothing)

    def start(self) -> None:
        from cdtui.release.deployments import latest
        from cdtui.release.watch import Deployed

        for moment in load_alerts(self.project_dir):
            self.watch.alerts.append(moment)
        for colour, d in latest(self.project_dir).items():
            self.watch.deployed[colour] = Deployed(d.sha256, d.artifact, d.built_by)
        if self.tell is not None:  # an alert is an event: the store and notifiers hear of it
            tell = self.tell
            self.watch.on_alert = lambda m: tell(AlertRaised(0, m.at, m.text, m.level, "monitor"))
        self._tasks = [
            asyncio.create_task(self._router_loop(), name="release-router"),
            asyncio.create_task(self._health_loop(), name="release-health"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _router_loop(self) -> None:
        from cdtui.store.releases import ReleaseRecords

        spec = self.watch.spec
        router = make_router(spec.router, self.project_dir)
        records = ReleaseRecords(self.project_dir, key_of(spec.router))
        try:
            while True:
                try:
                    self.watch.read_back(await router.get_weights())
                except RouterUnreachable as exc:
                    embedded = spec.router.kind == "embedded"
                    never = embedded and not RouterPaths.of(self.project_dir).socket.exists()
                    self.watch.router_down(
                        "the embedded router is not running: a release starts it"
                        if never
                        else str(exc)
                    )
                except RouterError as exc:
                    self.watch.router_down(str(exc))
                except Exception as exc:  # a driver bug must not end the watch
                    self.watch.router_down(f"{type(exc).__name__}: {exc}")
                if not self.watch.releasing:
                    try:
                        self._follow_records(records)
                    except Exception as exc:  # a locked or broken runs.db: say it, go on
                        self.watch.router_down(f"cannot read the release records: {exc}")
                await asyncio.sleep(ROUTER_POLL[spec.router.kind])
        finally:
            records.close()
            with contextlib.suppress(Exception):
                await router.close()

    def _follow_records(self, records) -> None:
        """States written by another cdtui (or before this console started) reach the view."""
        last = records.last_state()
        if last is not None:  # every poll: a driver may die long after its last record
            self._follow_driver(last)
        if last is None or last.seq == self._last_seq:
            return
        first = self._last_seq == 0
        self._last_seq = last.seq
        self.watch.live = last.live
        if last.run_id in self.watch.own_runs:  # told by events already
            return
        active = last.state in ("preflight", "step", "paused")
        if first:  # what happened before this console opened (an active last: told below)
            rows = [r for r in records.rows(60) if r.kind == "state" and not (active and r == last)]
            for row in reversed(rows[:20]):
                where = f" at {row.step}%" if row.step else ""
                self.watch.note(row.at, f"run #{row.run_id}: {row.state}{where}: {row.reason}")
        if first and not active:
            self.watch.state, self.watch.step, self.watch.reason = (
                last.state,
                last.step,
                last.reason,
            )
            self.watch.changed = True
            return
        if last.state == "done":  # the row names the new live colour; _state flips it itself
            self.watch.live = "green" if last.live == "blue" else "blue"
        self.watch.rollout_state(last.state, last.step, last.reason, last.at)
        self.watch.changed = True

    def _follow_driver(self, last) -> None:
        """A release in progress recorded by a cdtui that is gone is DRIVERLESS: no step will
        come (no ``next step in 0.0s`` forever); the view offers resume and roll back."""
        in_progress = last.state in ("preflight", "step", "paused")
        if not in_progress or last.run_id in self.watch.own_runs:
            self.watch.driver(None, True)
        else:
            self.watch.driver(last.pid, pid_alive(last.pid))

    async def _health_loop(self) -> None:
        spec = self.watch.spec
        targets = {"blue": spec.blue.url, "green": spec.green.url}
        if spec.router.kind == "embedded":
            targets["public"] = f"http://{spec.router.listen}"
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            releasing = self.watch.releasing  # the rollout checks the colours itself then
            router_up = not self.watch.router_error  # a router never started is not an outage
            chosen = {
                k: v for k, v in targets.items() if (router_up if k == "public" else not releasing)
            }
            samples = await asyncio.gather(
                *(probe(name, url, spec.health) for name, url in chosen.items())
            )
            for s in samples:
                self.watch.sample(
                    s.colour, Check(s.at, s.ok, s.latency_ms, s.status, s.error, s.version)
                )
            next_at += spec.health.interval
            delay = next_at - loop.time()
            if delay < 0:
                next_at = loop.time()
            await asyncio.sleep(max(0.0, delay))
