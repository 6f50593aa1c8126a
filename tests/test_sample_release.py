"""The sample project's Release phase end to end: real shop servers from the built .pyz, the
embedded router the phase starts itself, a release to green, and a fault mid-release rolled back.

Each test runs a copy of sample_project on free loopback ports with a shorter hold (the demo's 4 s
per step would only make the suite slower), and stops every server it started.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdtui.release.routers import RouterError
from cdtui.release.routers.embedded import EmbeddedRouter
from tests.routing_fixtures import free_port

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
CDTUI = [sys.executable, "-m", "cdtui.cli"]
ROUTER_CLI = [sys.executable, "-m", "cdtui.commands.router"]
PORTS = ("8100", "8102", "8103")  # router, blue, green in sample_project/cdtui.yaml
TEST_HOLD = "2s"  # leaves seconds of steps after the fault appears, so the abort is in flight


def run(project: Path, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=project, capture_output=True, text=True, timeout=timeout, check=False
    )


def release(project: Path) -> subprocess.CompletedProcess[str]:
    """Only the Release phase, headless, its gate approved up front."""
    argv = [*CDTUI, "run", "--headless", "--approve", "Release", "--phase", "Release", "."]
    return run(project, *argv, timeout=120)


def status(project: Path) -> dict[str, Any]:
    return json.loads(run(project, *CDTUI, "status", "--json", ".", timeout=30).stdout)


def blue_share(project: Path) -> int:
    """Blue's weight as the router reports it; 0 while no router answers."""

    async def read() -> int:
        router = EmbeddedRouter(project)
        try:
            return (await router.get_weights()).blue
        finally:
            await router.close()

    try:
        return asyncio.run(read())
    except (RouterError, OSError):
        return 0


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Path]:
    """A built copy of sample_project on free ports; its shops and router stopped afterwards."""
    project = tmp_path / "shop"
    skip = shutil.ignore_patterns(".cdtui", ".cdtui-demo", "__pycache__", ".ruff_cache", "dist")
    shutil.copytree(SAMPLE, project, ignore=skip)
    config = project / "cdtui.yaml"
    text = config.read_text()
    for port in PORTS:
        assert text.count(port) >= 1, f"{port} moved in sample_project/cdtui.yaml"
        text = re.sub(rf"\b{port}\b", str(free_port()), text)
    text, holds = re.subn(r"hold: 4s", f"hold: {TEST_HOLD}", text)
    assert holds == 1
    config.write_text(text)
    built = run(project, sys.executable, "package.py", timeout=60)
    assert built.returncode == 0, built.stdout + built.stderr
    try:
        yield project
    finally:
        stopped = run(project, sys.executable, "scripts/deploy.py", "stop", "all", timeout=30)
        run(project, *ROUTER_CLI, "stop", ".", timeout=30)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        for colour in ("blue", "green"):
            assert not (project / ".cdtui-demo" / f"{colour}.pid").exists()


def test_release_deploys_green_and_moves_all_traffic_to_it(shop: Path) -> None:
    began = time.monotonic()
    result = release(shop)
    took = time.monotonic() - began

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"deployed shop \S+ \(sha256 [0-9a-f]{12}\) as green on 127\.0\.0\.1:\d+ "
        r"\(pid \d+\)",
        result.stdout,
    ), result.stdout
    state = status(shop)
    assert state["weights"] == {"blue": 0, "green": 100}
    assert (state["release"]["state"], state["release"]["live"]) == ("done", "green")
    assert state["health"]["green"].startswith("healthy")
    assert took < 100  # ~10 s here (4 holds of 2 s); above 100 is stuck, not slow


def test_a_fault_mid_release_gives_all_traffic_back_at_once(shop: Path) -> None:
    first = release(shop)
    assert first.returncode == 0, first.stdout + first.stderr
    assert status(shop)["weights"] == {"blue": 0, "green": 100}

    # The fault appears once blue already takes traffic: the rollback under test is the
    # in-flight one, not a preflight refusal.
    broke = threading.Event()
    finished = threading.Event()

    def break_blue_once_it_serves() -> None:
        deadline = time.monotonic() + 90
        while not finished.is_set() and time.monotonic() < deadline:
            if blue_share(shop) > 0:
                switched = run(shop, sys.executable, "scripts/fault.py", "on", "blue")
                assert "blue now fails /health" in switched.stdout
                broke.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=break_blue_once_it_serves, daemon=True)
    watcher.start()
    try:
        second = release(shop)
    finally:
        finished.set()
        watcher.join(30)

    assert broke.is_set(), "blue never took traffic:\n" + second.stdout
    assert second.returncode == 1, second.stdout + second.stderr
    state = status(shop)
    assert state["weights"] == {"blue": 0, "green": 100}
    assert (state["release"]["state"], state["release"]["live"]) == ("aborted", "green")
    healed = run(shop, sys.executable, "scripts/fault.py", "off", "blue")
    assert "blue answers /health again" in healed.stdout
