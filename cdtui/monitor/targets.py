"""The checks a release block brings: the router's public address (embedded router), the live
colour, and the idle colour while ``keep_warm`` keeps it for an instant rollback.

Which colour is live moves with every release and rollback, so ``ReleaseTargets`` reads the
router (and the release records) about once a second and the ``live``/``idle`` checks follow.
The idle colour is checked only inside its keep-warm window: after it, nobody promises that it
still runs, and ``cdtui status`` says rollback is no longer instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from cdtui.config.monitor import CheckSpec, MonitorSpec
from cdtui.config.release import ReleaseSpec

REFRESH = 1.0


def release_checks(spec: ReleaseSpec, monitor: MonitorSpec) -> list[CheckSpec]:
    health = spec.health
    expect = [f"status == {health.expect_status}"]
    if health.body_contains is not None:
        expect.append(f"body contains {health.body_contains!r}")
    common = {"timeout": health.timeout, "expect": expect}
    found = []
    if spec.router.kind == "embedded":
        url = f"http://{spec.router.listen}{health.path}"
        found.append(CheckSpec(name="router", http=url, **common))
    for name in ("live", "idle"):
        found.append(CheckSpec(name=name, http=spec.blue.url + health.path, **common))
    return found


def keep_warm_until(spec: ReleaseSpec, last_state: object | None) -> float | None:
    """When the old colour's keep-warm window ends (epoch), None when no release is done."""
    if last_state is None or getattr(last_state, "state", "") != "done":
        return None
    return float(last_state.at) + spec.keep_warm  # type: ignore[attr-defined]


class ReleaseTargets:
    """The live colour and the keep-warm window, refreshed in the background."""

    def __init__(self, spec: ReleaseSpec, project_dir: Path) -> None:
        self.spec = spec
        self.project_dir = Path(project_dir)
        self.live = "blue"
        self.warm_until: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> str:
        return "green" if self.live == "blue" else "blue"

    def url(self, check: str) -> str | None:
        """Where ``live`` or ``idle`` points now; None for an idle colour not kept warm."""
        if check == "idle" and (self.warm_until is None or time.time() >= self.warm_until):
            return None
        colour = self.live if check == "live" else self.idle
        return getattr(self.spec, colour).url + self.spec.health.path

    def colour(self, check: str) -> str:
        return self.live if check == "live" else self.idle

    async def refresh(self) -> None:
        from cdtui.release.control import key_of, live_colour
        from cdtui.release.routers import make_router
        from cdtui.store import store_exists
        from cdtui.store.releases import ReleaseRecords

        if not store_exists(self.project_dir):
            return
        records = ReleaseRecords(self.project_dir, key_of(self.spec.router))
        router = make_router(self.spec.router, self.project_dir)
        try:
            last = records.last_state()
            try:
                weights = await router.get_weights()
                self.live = live_colour(weights, records)
            except Exception:  # the router is down: the record says who was live
                if last is not None:
                    self.live = last.live
            self.warm_until = keep_warm_until(self.spec, last)
        finally:
            records.close()
            with contextlib.suppress(Exception):
                await router.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="monitor-release-targets")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH)
            with contextlib.suppress(Exception):
                await self.refresh()


def keep_warm_facts(
    spec: ReleaseSpec, report: object, now: float | None = None
) -> dict[str, object]:
    """Whether rollback is still instant: the old colour inside its keep-warm window and
    answering. For ``cdtui status`` (text and JSON)."""
    now = time.time() if now is None else now
    state = getattr(report, "state", None)
    until = keep_warm_until(spec, state)
    if until is None:
        what = state.state if state is not None else "none recorded"
        return {
            "colour": None,
            "until": None,
            "instant": False,
            "text": f"no colour is kept warm (the last release: {what})",
        }
    colour = "green" if state.live == "blue" else "blue"  # type: ignore[union-attr]
    shown = time.strftime("%H:%M:%S", time.localtime(until))
    sample = next((s for s in getattr(report, "samples", ()) if s.colour == colour), None)
    if now >= until:
        text = (
            f"{colour}'s keep-warm window ended at {shown}: nothing promises it still runs, "
            "so rollback is no longer instant (`cdtui rollback --redeploy` deploys it again)"
        )
        return {"colour": colour, "until": until, "instant": False, "text": text}
    if sample is not None and not sample.ok:
        text = (
            f"{colour} is kept warm until {shown} but does not answer ({sample.error}): "
            "rollback is not instant now"
        )
        return {"colour": colour, "until": until, "instant": False, "text": text}
    left = int(until - now)
    text = (
        f"{colour} is kept warm until {shown} ({left // 60}m{left % 60:02d}s left): "
        "rollback is instant"
    )
    return {"colour": colour, "until": until, "instant": True, "text": text}
