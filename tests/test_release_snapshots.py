"""Snapshots of the release and monitor views: before a release, mid-shift, rolled back, healthy
at 100 %, the release confirmation and each refusal. Fed with recorded events at fixed times (no
poller), so every frame is the same on every machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cdtui.engine.events import PhaseStarted
from cdtui.release.context import Refusal, ReleaseContext, _idle_refusal
from cdtui.release.events import HealthSampled, ReleaseStateChanged, WeightChanged
from cdtui.release.routers import Weights
from cdtui.release.watch import ReleaseWatch
from cdtui.ui import clock
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.confirm import ConfirmModal, RefusalModal
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.screens.release_text import release_body

SIZE = (110, 36)
T0 = 1_800_000_000.0
NOW = T0 + 60.0
BLOCK = {
    "router": {"kind": "embedded", "listen": "127.0.0.1:8100"},
    "blue": {"url": "http://127.0.0.1:8102"},
    "green": {"url": "http://127.0.0.1:8103", "deploy": "python scripts/deploy.py"},
    "steps": [10, 25, 50, 100],
    "hold": "4s",
    "health": {"interval": "0.5s", "max_error_rate": 0.2},
}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def project(tmp_path: Path) -> Path:
    phases = [
        {"name": "Build", "stages": [{"name": "compile", "run": "echo compiled"}]},
        {"name": "Release", "gate": "confirm", "release": BLOCK},
    ]
    (tmp_path / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))
    return tmp_path


def check_events(start: float, end: float, failing: str = "") -> list[HealthSampled]:
    """Both colours checked every 0.5 s with steady, varied latencies; ``failing`` fails its
    last 3 s of checks."""
    events, at, index = [], start, 0
    while at <= end:
        for colour, base in (("blue", 4.0), ("green", 6.0)):
            bad = colour == failing and at > end - 3
            latency = base + (index % 7) * 1.5 + (index % 3)
            events.append(
                HealthSampled(
                    1,
                    at,
                    colour,
                    not bad,
                    latency,
                    500 if bad else 200,
                    "HTTP 500, expected 200" if bad else "",
                    "1.2.0" if colour == "blue" else "1.3.0",
                )
            )
        at += 0.5
        index += 1
    return events


def checks(watch: ReleaseWatch, start: float, end: float, *, failing: str = "") -> None:
    for event in check_events(start, end, failing):
        watch.apply(event)


def in_order(watch: ReleaseWatch, events: list) -> None:
    """Checks and release events applied as they would arrive: by time."""
    for event in sorted(events, key=lambda e: e.at):
        watch.apply(event)


def shift(at: float, green: int) -> list:
    return [
        WeightChanged(1, at, 100 - green, green, False),
        WeightChanged(1, at + 0.05, 100 - green, green, True),
        ReleaseStateChanged(1, at + 0.1, "step", green, f"idle green takes {green}% of traffic"),
    ]


def starting(at: float) -> list:
    return [
        PhaseStarted(1, at, "Release"),
        ReleaseStateChanged(1, at, "preflight", 0, "checking idle green before it takes traffic"),
    ]


def weights(watch: ReleaseWatch, at: float, green: int) -> None:
    watch.apply(WeightChanged(1, at, 100 - green, green, False))
    watch.apply(WeightChanged(1, at + 0.05, 100 - green, green, True))


def before(watch: ReleaseWatch) -> None:
    weights(watch, T0 - 80, 0)
    checks(watch, T0, NOW)


def mid_shift(watch: ReleaseWatch) -> None:
    weights(watch, T0 - 80, 0)
    steps = [
        e for at, step in ((T0 + 42, 10), (T0 + 46, 25), (T0 + 58, 50)) for e in shift(at, step)
    ]
    in_order(watch, check_events(T0, NOW) + starting(T0 + 40) + steps)


def rolled_back(watch: ReleaseWatch) -> None:
    weights(watch, T0 - 80, 0)
    steps = [
        e for at, step in ((T0 + 42, 10), (T0 + 46, 25), (T0 + 50, 50)) for e in shift(at, step)
    ]
    back = [
        WeightChanged(1, NOW - 0.5, 100, 0, False),
        WeightChanged(1, NOW - 0.45, 100, 0, True),
        ReleaseStateChanged(
            1,
            NOW - 0.4,
            "aborted",
            0,
            "idle green 3 consecutive failed checks (HTTP 500, expected 200); all traffic is "
            "back on live blue",
        ),
    ]
    in_order(watch, check_events(T0, NOW - 1, "green") + starting(T0 + 40) + steps + back)


def done(watch: ReleaseWatch) -> None:
    weights(watch, T0 - 80, 0)
    points = ((T0 + 32, 10), (T0 + 36, 25), (T0 + 40, 50), (T0 + 44, 100))
    steps = [e for at, step in points for e in shift(at, step)]
    finished = ReleaseStateChanged(
        1,
        T0 + 48.1,
        "done",
        100,
        "green is live; blue is idle and kept warm for 10m (until 08:18:08): rollback is instant",
    )
    in_order(watch, check_events(T0, NOW) + starting(T0 + 30) + steps + [finished])


def rolled_back_by_hand(watch: ReleaseWatch) -> None:
    done(watch)
    in_order(
        watch,
        [
            WeightChanged(1, NOW - 2.0, 100, 0, False),
            WeightChanged(1, NOW - 1.95, 100, 0, True),
            ReleaseStateChanged(
                1,
                NOW - 1.9,
                "rolled back",
                0,
                "rolled back from blue 0% / green 100%; all traffic is back on live blue",
            ),
        ],
    )


async def release_view(pilot, scenario) -> None:
    app: CdtuiApp = pilot.app
    for _ in range(100):
        if isinstance(app.screen, MainScreen) and app.release_watch is not None:
            break
        await pilot.pause(0.05)
    scenario(app.release_watch)
    app.open_release_view()
    await pilot.pause(0.5)


def app_for(tmp_path: Path) -> CdtuiApp:
    return CdtuiApp(project(tmp_path), monitor=False)


@pytest.mark.parametrize(
    "scenario",
    [before, mid_shift, rolled_back, done, rolled_back_by_hand],
    ids=lambda s: s.__name__,
)
def test_release_view(snap_compare, tmp_path: Path, scenario):
    async def run_before(pilot) -> None:
        await release_view(pilot, scenario)

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_monitor_view_with_alerts(snap_compare, tmp_path: Path):
    async def run_before(pilot) -> None:
        await release_view(pilot, rolled_back)
        await pilot.press("m")
        await pilot.pause(0.6)

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_release_confirmation(snap_compare, tmp_path: Path):
    from types import SimpleNamespace

    from cdtui.config.release import ReleaseSpec

    context = ReleaseContext(ReleaseSpec.model_validate(BLOCK), "Release")
    context.weights = Weights.ALL_BLUE
    context.artifact = SimpleNamespace(path="dist/shop-1.2.0.pyz", sha256="f6af534d" * 8)
    context.tested_run, context.tested_by = 7, "run #7 passed Load & Perf"
    context.results = [
        "✓ smoke: p95 static 6.2ms (limit <= 50)",
        "✓ smoke: errors 0 (limit <= 0)",
    ]
    context.commits_note = "2 since the last release (3c1f9e2a70)"
    context.commits = ["9a8b7c6 Catalogue: sort by price", "5d4e3f2 Health: report the colour"]
    context.health = {
        "blue": "healthy · p50/p95 7/12 ms · errors 0% of 20",
        "green": "healthy · p50/p95 9/14 ms · errors 0% of 20",
    }

    async def run_before(pilot) -> None:
        await release_view(pilot, before)
        await pilot.app.push_screen(
            ConfirmModal(
                "Release: blue → green?", release_body(context), confirm_label="release", width=96
            )
        )
        await pilot.pause(0.3)

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=run_before)


def refusal_unhealthy_idle() -> Refusal:
    from cdtui.config.release import ReleaseSpec

    block = {**BLOCK, "green": {"url": "http://127.0.0.1:8103"}}  # nothing redeploys green
    watch = ReleaseWatch(ReleaseSpec.model_validate(block), "Release")
    checks(watch, T0, NOW, failing="green")
    context = ReleaseContext(watch.spec, "Release")
    _idle_refusal(context, watch)
    assert context.refusal is not None
    return context.refusal


REFUSALS = {
    "untested_artifact": lambda: Refusal(
        "The artifact was not tested",
        "dist/shop-1.2.1.pyz (sha256:9c1e77a0b2d4, stored by run #12) has no run that passed "
        "Load & Perf: only the bytes that passed the phase before the release are released",
        "Run the pipeline (r on the pipeline view): the release gate comes after Load & Perf "
        "has tested these bytes. Nothing was changed.",
    ),
    "unhealthy_idle": refusal_unhealthy_idle,
    "router_locked": lambda: Refusal(
        "Another cdtui holds the router",
        "another cdtui process (pid 4242 on build-7) is driving the embedded:127.0.0.1:8100 "
        "router: wait for it, or stop it first",
        "Wait for that release to end, or stop that cdtui; `cdtui status` shows its progress. "
        "Nothing was changed.",
    ),
    "record_disagrees": lambda: Refusal(
        "The router and the record disagree",
        "the router holds blue 70% / green 30% but the last record says blue 100% / green 0% "
        "(run 3, 2027-01-15 08:00:00, step 0%: applied blue 100% / green 0% (pid 4242)): it was "
        "changed outside cdtui",
        "Check who changed the router. `cdtui release --reconcile shop` adopts its weights and "
        "releases; `b` (or `cdtui rollback shop`) puts all traffic on the live colour. Nothing "
        "was changed.",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusal(snap_compare, tmp_path: Path, name: str):
    refusal = REFUSALS[name]()

    async def run_before(pilot) -> None:
        await release_view(pilot, before)
        await pilot.app.push_screen(RefusalModal(refusal.title, refusal.why, refusal.fix))
        await pilot.pause(0.3)

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=run_before)
