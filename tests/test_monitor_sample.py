"""The sample project's Monitor phase end to end, driven by its fault switch as the demo is.

After the first release (blue never ran), ``fault.py on green`` finds no colour to roll back to:
``recover`` deploys blue afresh from the tested .pyz and shifts to it. After the next release
(blue kept warm) the same fault rolls back to blue at once. ``fault.py crash blue`` then (a lost
machine) leaves nothing to roll back to, and ``recover`` brings green back afresh.
"""

from __future__ import annotations

import sys
from pathlib import Path

from monitor_procs import MonitorProcess, events

from tests.test_sample_release import blue_share, release, run, shop, status

__all__ = ["shop"]  # the fixture


def fault(project: Path, action: str, colour: str) -> None:
    done = run(project, sys.executable, "scripts/fault.py", action, colour, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_fault_switch_shows_recover_and_rollback(shop: Path) -> None:
    config = shop / "cdtui.yaml"
    text = config.read_text()
    assert text.count("cooldown: 2m") == 1
    config.write_text(text.replace("cooldown: 2m", "cooldown: 1s"))  # three incidents in a row
    first = release(shop)
    assert first.returncode == 0, first.stdout + first.stderr
    assert status(shop)["weights"] == {"blue": 0, "green": 100}
    with MonitorProcess(shop) as monitor:
        monitor.wait_for(r"check live: unknown -> ok")
        monitor.wait_for(r"check catalogue: unknown -> ok")
        fault(shop, "on", "green")
        monitor.wait_for(r"FIRED live-down: 3 failed checks in a row", timeout=20)
        monitor.wait_for(r"action rollback of live-down: refused: rollback target blue", timeout=30)
        done = monitor.wait_for(r"action recover of live-down: (done|failed)", timeout=90)
        assert ": done: recovered onto a fresh blue" in done, monitor.text
        assert blue_share(shop) == 100
        monitor.wait_for(r"RESOLVED live-down", timeout=20)
        assert monitor.stop() == 0

    fault(shop, "off", "green")
    second = release(shop)  # green again; blue is kept warm
    assert second.returncode == 0, second.stdout + second.stderr
    assert status(shop)["keep_warm"]["instant"] is True
    with MonitorProcess(shop) as monitor:
        monitor.wait_for(r"check idle: unknown -> ok")
        fault(shop, "on", "green")
        monitor.wait_for(r"FIRED live-down", timeout=20)
        monitor.wait_for(r"action rollback of live-down: done", timeout=30)
        assert blue_share(shop) == 100
        monitor.wait_for(r"action recover of live-down: skipped: traffic already moved")
        monitor.wait_for(r"RESOLVED live-down", timeout=20)

        fault(shop, "off", "green")
        fault(shop, "crash", "blue")  # blue serves all traffic: its machine is gone
        monitor.wait_for(r"check live: ok -> no_answer", timeout=20)
        monitor.wait_for(r"action rollback of live-down: refused: nothing to roll back to")
        done = monitor.wait_for(r"action recover of live-down: (done|failed)", timeout=90)
        assert ": done: recovered onto a fresh green" in done, monitor.text
        assert blue_share(shop) == 0
        monitor.wait_for(r"RESOLVED live-down.*", timeout=20)
        assert monitor.stop() == 0
    fired = [e for e in events(shop, "AlertFired") if e["alert"] == "live-down"]
    assert len(fired) == 3
    from cdtui.store.monitor_rows import MonitorRows

    with MonitorRows(shop) as rows:
        firing = [r for r in rows.history(500) if r.alert == "live-down" and r.state == "firing"]
        logs = rows.evidence("live-down", firing[0].fired_at)
    assert any("green" in r.evidence.get("logs", "") for r in logs), logs
