"""``cdtui monitor`` as a service manager runs it: real loopback backends, a real process, SIGTERM.

A backend that fails for 3 s fires one alert and resolves it once, also when the monitor is
restarted in the middle; a flapping backend fires no more than its rule allows; a name that
does not resolve is the checker's trouble, not the service's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_procs import MonitorProcess, alert_rows, events, write_pipeline
from release_backends import FaultyServer, faulty_server
from routing_fixtures import _ColourHandler

INTERVAL = 0.2


def shop_monitor(url: str, **alert: object) -> dict[str, object]:
    rule = {"name": "shop-down", "check": "shop", "after": 3, "resolve_after": 2}
    return {
        "interval": INTERVAL,
        "checks": [{"name": "shop", "http": f"{url}/health", "timeout": 1}],
        "alerts": [{**rule, "actions": ["notify"], **alert}],
    }


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, FaultyServer]]:
    with faulty_server("blue") as server:
        yield tmp_path / "project", server


@pytest.mark.parametrize("restart", [False, True], ids=["one process", "restarted mid-outage"])
def test_a_backend_down_for_3s_fires_once_and_resolves_once(shop, restart: bool) -> None:
    project, server = shop
    write_pipeline(project, shop_monitor(server.url, logs="echo evidence from $CDTUI_PROJECT"))
    first = MonitorProcess(project)
    second = None
    try:
        first.wait_for(r"check shop: unknown -> ok")
        server.fault = True
        broke = time.monotonic()
        first.wait_for(r"FIRED shop-down: 3 failed checks in a row -> notify")
        current = first
        if restart:
            assert first.stop() == 0
            assert "monitor stopped" in first.lines[-1]
            second = current = MonitorProcess(project)
            current.wait_for(r"firing from before: shop-down")
            current.wait_for(r"check shop: unknown -> failed")
        time.sleep(max(0.0, 3.0 - (time.monotonic() - broke)))
        server.fault = False
        current.wait_for(r"RESOLVED shop-down resolved after")
        time.sleep(5 * INTERVAL)  # nothing more to tell while it stays healthy
        assert current.stop() == 0
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.__exit__()
    told = first.lines + (second.lines if second else [])
    assert sum("FIRED shop-down" in line for line in told) == 1, "\n".join(told)
    assert sum("RESOLVED shop-down" in line for line in told) == 1, "\n".join(told)
    states = [state for alert, state in alert_rows(project) if alert == "shop-down"]
    assert states.count("firing") == 1 and states.count("resolved") == 1, states
    assert [e["alert"] for e in events(project, "AlertFired")] == ["shop-down"]
    resolved = events(project, "AlertResolved")
    assert [e["alert"] for e in resolved] == ["shop-down"]
    assert resolved[0]["fired_at"] <= resolved[0]["at"]
    from cdtui.store.monitor_rows import MonitorRows

    with MonitorRows(project) as rows:
        fired = next(r for r in rows.history(100) if r.state == "firing")
        evidence = rows.evidence("shop-down", fired.fired_at)
    checks = evidence[0].evidence["checks"]
    assert [c["outcome"] for c in checks[-3:]] == ["failed"] * 3
    assert "status is 500" in checks[-1]["detail"]
    assert any("evidence from" in r.evidence.get("logs", "") for r in evidence[1:]), evidence


def test_a_second_monitor_refuses_to_run(shop) -> None:
    project, server = shop
    write_pipeline(project, shop_monitor(server.url))
    with MonitorProcess(project) as first:
        first.wait_for(r"monitor started \(pid \d+\)")
        with MonitorProcess(project) as second:
            assert second.proc.wait(20) == 4
            assert f"a monitor already runs for this project (pid {first.proc.pid})" in (
                second.text
            )
        assert first.stop() == 0


class _Flapping(_ColourHandler):
    """Good or bad by a pattern, one letter per request (o good, x bad), cycled."""

    server: FaultyServer

    def do_GET(self) -> None:
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            pattern = server.pattern  # type: ignore[attr-defined]
            good = pattern[server.hits % len(pattern)] == "o"
            server.hits += 1
        self._send(200 if good else 503, b"ok" if good else b"down")


@contextlib.contextmanager
def flapping(pattern: str) -> Iterator[FaultyServer]:
    with faulty_server("blue") as server:
        server.pattern, server.lock = pattern, threading.Lock()  # type: ignore[attr-defined]
        server.RequestHandlerClass = _Flapping
        yield server


@pytest.mark.parametrize(
    ("pattern", "fired"),
    [("xxo", 0), ("oxxxoxxx", 1)],
    ids=["never 3 in a row", "never 2 good in a row"],
)
def test_a_flapping_backend_fires_no_more_than_its_rule_allows(
    tmp_path: Path, pattern: str, fired: int
) -> None:
    with flapping(pattern) as server:
        project = tmp_path / "project"
        write_pipeline(project, shop_monitor(server.url))
        with MonitorProcess(project) as monitor:
            monitor.wait_for(r"monitor started")
            deadline = time.monotonic() + 30
            while server.hits < 40 and time.monotonic() < deadline:  # ~13 flaps
                time.sleep(0.05)
            assert monitor.stop() == 0
    assert server.hits >= 40
    assert monitor.count(r"FIRED shop-down") == fired, monitor.text
    assert monitor.count(r"RESOLVED shop-down") == 0, monitor.text
    assert monitor.count(r"check shop: .* -> failed") >= 10  # the flaps were seen, and told


def test_a_name_that_does_not_resolve_is_the_checkers_trouble(tmp_path: Path) -> None:
    project = tmp_path / "project"
    spec = shop_monitor("http://no-such-host.invalid")
    write_pipeline(project, spec)
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check shop: unknown -> checker: cannot resolve 'no-such-host.invalid'")
        monitor.wait_for(
            r"CHECKER the checker of shop cannot run .* says nothing about the service"
        )
        time.sleep(6 * INTERVAL)
        assert monitor.stop() == 0
    assert monitor.count("FIRED shop-down") == 0, monitor.text  # the service is not called down
    fired = events(project, "AlertFired")
    assert [(e["alert"], e["cause"], e["level"]) for e in fired] == [
        ("shop: checker", "checker", "warning")
    ]


def test_a_refused_connection_is_no_answer_and_counts_as_down(tmp_path: Path) -> None:
    from routing_fixtures import free_port

    project = tmp_path / "project"
    write_pipeline(project, shop_monitor(f"http://127.0.0.1:{free_port()}"))
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check shop: unknown -> no_answer: Connection refused")
        monitor.wait_for(r"FIRED shop-down: 3 failed checks in a row")
        assert monitor.stop() == 0


def test_bad_input_exits_2_with_located_errors(tmp_path: Path) -> None:
    import subprocess

    from monitor_procs import CDTUI

    project = tmp_path / "project"
    spec = shop_monitor("http://127.0.0.1:1")
    spec["alerts"][0]["check"] = "shpo"  # type: ignore[index]
    write_pipeline(project, spec)
    shown = subprocess.run(
        [*CDTUI, "monitor", str(project)], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 2
    assert "monitor.alerts[0].check: no check named 'shpo' (did you mean 'shop'?)" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_run_action_runs_the_named_stage(shop) -> None:
    project, server = shop
    spec = shop_monitor(server.url, actions=["notify", {"run": ["clean"], "cooldown": 60}])
    phases = [
        {"name": "Commit", "stages": [{"name": "unit", "run": "true"}]},
        {
            "name": "Ops",
            "stages": [{"name": "clean", "run": "echo cleaned > cleaned.txt", "when": "manual"}],
        },
    ]
    write_pipeline(project, spec, phases=phases)
    with MonitorProcess(project) as monitor:
        monitor.wait_for(r"check shop: unknown -> ok")
        server.fault = True
        done = monitor.wait_for(r"action run clean of shop-down: (done|failed)", timeout=30)
        assert ": done: run #" in done and "succeeded" in done, monitor.text
        assert monitor.stop() == 0
    assert (project / "cleaned.txt").read_text() == "cleaned\n"
    taken = events(project, "MonitorActionTaken")
    assert [(e["action"], e["outcome"]) for e in taken] == [
        ("notify", "done"),
        ("run clean", "done"),
    ]
    assert taken[1]["run"] > 0  # the run it started, in history like any other
