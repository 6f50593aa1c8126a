"""The monitor acting: a firing alert rolls back through the real embedded router, ``recover``
deploys the last good artifact afresh to the idle colour and shifts to it, and a corrupted stored
artifact makes ``recover`` fail loudly, naming ``digest mismatch``.

Each test releases a real project first (``cdtui run --headless``: a Build phase stores the
artifact, the Release phase deploys green and shifts to it), then runs ``cdtui monitor``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_procs import CDTUI, MonitorProcess, events
from release_backends import FaultyServer, faulty_server
from routing_fixtures import free_port
from test_release_rollout import fast

from cdtui.release.routers import Weights
from cdtui.release.routers.embedded import EmbeddedRouter

ROUTER_CLI = [sys.executable, "-m", "cdtui.commands.router"]
DEPLOY = """\
import hashlib, os, pathlib, sys, urllib.request
artifact = pathlib.Path(os.environ["CDTUI_ARTIFACT"])
digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
assert digest == os.environ["CDTUI_ARTIFACT_SHA256"], "the deploy got other bytes"
colour = os.environ["CDTUI_COLOUR"]
pathlib.Path(f"deployed-{colour}").write_text(digest)
# A fresh environment: the colour's backend starts answering well.
urllib.request.urlopen(os.environ["CDTUI_COLOUR_URL"] + "/_fault/off", timeout=5).read()
print(f"deployed {artifact.name} as {colour}")
"""


def weights(project: Path) -> Weights:
    async def read() -> Weights:
        router = EmbeddedRouter(project)
        try:
            return await router.get_weights()
        finally:
            await router.close()

    return asyncio.run(read())


@pytest.fixture
def released(tmp_path: Path) -> Iterator[tuple[Path, FaultyServer, FaultyServer]]:
    """A project whose release made green live (blue kept warm), and its two backends."""
    with faulty_server("blue") as blue, faulty_server("green") as green:
        project = tmp_path / "shop"
        (project / ".cdtui").mkdir(parents=True)
        (project / "deploy.py").write_text(DEPLOY)
        block = fast(blue.url, green.url, free_port(), hold=0.1)
        block["health"] = {**block["health"], "interval": 0.1}  # type: ignore[dict-item]
        for colour in ("blue", "green"):
            block[colour] = {**block[colour], "deploy": [sys.executable, "deploy.py"]}  # type: ignore[dict-item]
        build = "mkdir -p dist && echo shop-1.0 > dist/shop.txt"
        pipeline = {
            "project": "shop",
            "phases": [
                {
                    "name": "Build",
                    "stages": [
                        {"name": "package", "run": build, "artifacts": ["dist/shop.txt"]},
                        {
                            "name": "provision",
                            "run": "echo $CDTUI_RUN_ID >> provisioned",
                            "when": "manual",
                        },  # runs only when named: by the recover action
                    ],
                },
                {"name": "Release", "release": block},
            ],
        }
        (project / "pipeline.json").write_text(json.dumps(pipeline))
        write(project, [])
        ran = subprocess.run(
            [*CDTUI, "run", "--headless", "--approve", "Release", str(project)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert weights(project) == Weights.ALL_GREEN
        try:
            yield project, blue, green
        finally:
            subprocess.run([*ROUTER_CLI, "stop", str(project)], timeout=30, check=False)


def wait_for_check(project: Path, name: str, condition, timeout: float = 10.0):
    """The check ``name`` in the monitor's snapshot once ``condition`` holds for it."""
    from cdtui.monitor.view import read_facts

    deadline = time.monotonic() + timeout
    while True:
        found = next((c for c in read_facts(project).checks if c.name == name), None)
        if found is not None and condition(found):
            return found
        assert time.monotonic() < deadline, f"check {name}: {found}"
        time.sleep(0.1)


def write(project: Path, actions: list[object]) -> None:
    """The released pipeline with a monitor whose live-down alert takes ``actions``."""
    pipeline = json.loads((project / "pipeline.json").read_text())
    pipeline["monitor"] = {
        "interval": 0.2,
        "alerts": [
            {
                "name": "live-down",
                "check": "live",
                "after": 3,
                "resolve_after": 2,
                "actions": actions,
                "cooldown": 60,
            },
        ],
    }
    (project / "cdtui.yaml").write_text(json.dumps(pipeline))


def test_a_firing_alert_rolls_back_through_the_embedded_router(released) -> None:
    project, blue, green = released
    write(project, ["notify", "rollback", "recover"])
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check live: unknown -> ok")
        monitor.wait_for(r"check idle: unknown -> ok")  # blue, kept warm for the rollback
        assert monitor.wait_for(r"  check router: http http://127\.0\.0\.1:\d+/health every")
        monitor.wait_for(r"  check idle: http " + blue.url + "/health every 0.2s")
        green.fault = True
        monitor.wait_for(r"FIRED live-down: 3 failed checks in a row -> notify, rollback, recover")
        done = monitor.wait_for(r"action rollback of live-down: done", timeout=30)
        assert "rolled back" in done and "monitor alert live-down" in done
        assert weights(project) == Weights.ALL_BLUE
        monitor.wait_for(r"action recover of live-down: skipped: traffic already moved by rollback")
        monitor.wait_for(r"check live now checks " + blue.url)
        monitor.wait_for(r"RESOLVED live-down", timeout=20)
        assert monitor.stop() == 0
    taken = [(e["action"], e["outcome"]) for e in events(project, "MonitorActionTaken")]
    assert taken == [("notify", "done"), ("rollback", "done"), ("recover", "skipped")]
    rollback_run = next(
        e["run"] for e in events(project, "MonitorActionTaken") if e["action"] == "rollback"
    )
    logs = subprocess.run(
        [*CDTUI, "logs", str(rollback_run), "rollback", str(project)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "rolled back" in logs.stdout, logs.stdout + logs.stderr


def test_recover_deploys_the_last_good_artifact_to_the_idle_colour_and_shifts(released) -> None:
    project, blue, green = released
    write(project, ["notify", "rollback", {"recover": {"run": ["provision"]}}])
    assert not (project / "deployed-blue").exists()
    stored = json.loads(
        subprocess.run(
            [*CDTUI, "history", "--json", str(project)],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    )
    assert stored
    digest = (project / "deployed-green").read_text()
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check idle: unknown -> ok")
        blue.fault = True  # the colour a rollback would go to is broken too
        monitor.wait_for(r"check idle: ok -> failed")
        green.fault = True
        monitor.wait_for(r"FIRED live-down")
        monitor.wait_for(
            r"action rollback of live-down: refused: rollback target blue is UNHEALTHY"
        )
        done = monitor.wait_for(r"action recover of live-down: (done|failed|refused)", timeout=60)
        assert ": done: " in done, monitor.text
        assert "recovered onto a fresh blue" in done and "provision: run #" in done
        assert weights(project) == Weights.ALL_BLUE
        assert (project / "provisioned").is_file()  # the fresh environment came first
        assert (project / "deployed-blue").read_text() == digest  # the verified, tested bytes
        monitor.wait_for(r"RESOLVED live-down", timeout=20)
        assert monitor.stop() == 0
    assert not blue.fault  # the fresh blue is what answers now


def test_a_corrupt_artifact_makes_recover_fail_loudly_naming_digest_mismatch(released) -> None:
    project, _blue, green = released
    write(project, ["notify", "recover"])
    digest = (project / "deployed-green").read_text()
    copy = project / ".cdtui" / "artifacts" / "sha256" / digest
    assert copy.is_file()
    os.chmod(copy, 0o644)
    copy.write_bytes(b"bit rot\n")
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check live: unknown -> ok")
        green.fault = True
        monitor.wait_for(r"FIRED live-down")
        failed = monitor.wait_for(r"action recover of live-down: failed", timeout=60)
        assert f"digest mismatch: expected {digest}" in failed
        loud = monitor.wait_for(r"FIRED RECOVER FAILED for live-down: nothing can start")
        assert "digest mismatch" in loud
        assert weights(project) == Weights.ALL_GREEN  # traffic unchanged
        assert monitor.stop() == 0
    loud_events = [e for e in events(project, "AlertFired") if "recover failed" in e["alert"]]
    assert len(loud_events) == 1 and loud_events[0]["level"] == "error"
    assert "digest mismatch" in loud_events[0]["text"] and not loud_events[0]["quiet"]
    assert not (project / "deployed-blue").exists()  # nothing was deployed


def status(project: Path) -> dict:
    shown = subprocess.run(
        [*CDTUI, "status", "--json", str(project)], capture_output=True, text=True, timeout=30
    )
    return json.loads(shown.stdout)


def test_keep_warm_is_enforced_and_status_says_whether_rollback_is_instant(released) -> None:
    project, blue, _green = released
    warm = status(project)["keep_warm"]
    assert (warm["colour"], warm["instant"]) == ("blue", True), warm
    assert "rollback is instant" in warm["text"]
    blue.fault = True
    warm = status(project)["keep_warm"]
    assert not warm["instant"] and "does not answer" in warm["text"]
    blue.fault = False

    pipeline = json.loads((project / "pipeline.json").read_text())
    pipeline["phases"][1]["release"]["keep_warm"] = 0.5  # the window has ended already
    (project / "pipeline.json").write_text(json.dumps(pipeline))
    write(project, ["notify"])
    warm = status(project)["keep_warm"]
    assert not warm["instant"] and "keep-warm window ended" in warm["text"]
    text = subprocess.run(
        [*CDTUI, "status", str(project)], capture_output=True, text=True, timeout=30
    ).stdout
    assert "keep warm:  blue's keep-warm window ended" in text
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"  check idle: http .* \(when kept warm\)")
        monitor.wait_for(r"check live: unknown -> ok")
        idle = wait_for_check(project, "idle", lambda c: c.state == "not kept warm")
        assert idle.target.startswith("idle blue: checked once"), idle.target  # not green's URL
        time.sleep(1.0)
        assert monitor.stop() == 0
    assert monitor.count(r"check idle: unknown -> ") == 0, monitor.text  # not checked after it
