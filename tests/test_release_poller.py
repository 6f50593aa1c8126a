"""The poller: what another cdtui (or an earlier console) did reaches the release view."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from routing_fixtures import free_port

from cdtui.config.release import ReleaseSpec
from cdtui.release.control import key_of
from cdtui.release.deployments import Deployment, record
from cdtui.release.poller import ReleasePoller, store_alert
from cdtui.release.watch import Moment, ReleaseWatch
from cdtui.store.releases import ReleaseRecords


def spec() -> ReleaseSpec:
    return ReleaseSpec.model_validate(
        {
            "router": {"kind": "embedded", "listen": f"127.0.0.1:{free_port()}"},
            "blue": {"url": f"http://127.0.0.1:{free_port()}"},
            "green": {"url": f"http://127.0.0.1:{free_port()}"},
            "health": {"interval": "0.2s", "timeout": "0.2s"},
        }
    )


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_history_and_another_cdtuis_release_reach_the_watch(tmp_path: Path):
    release = spec()
    records = ReleaseRecords(tmp_path, key_of(release.router))
    records.state(3, "blue", "preflight", 0, "checking idle green")
    records.state(3, "green", "done", 100, "green is live")
    store_alert(tmp_path, Moment(1.0, "blue unhealthy: 3 failed checks", "error"))
    record(tmp_path, Deployment("green", "ab" * 32, "dist/app.pyz", 2, 3, 2.0))
    watch = ReleaseWatch(release, "Release")
    poller = ReleasePoller(watch, tmp_path)
    poller.start()
    try:
        await until(lambda: watch.state == "done")
        assert watch.live == "green" and [m.text for m in watch.alerts] == [
            "blue unhealthy: 3 failed checks"
        ]
        assert [m.text for m in watch.timeline][:2] == [
            "run #3: preflight: checking idle green",
            "run #3: done at 100%: green is live",
        ]
        assert watch.deployed["green"].digest == "ab" * 32
        assert "not running" in watch.router_error  # no router: said, not raised
        records.state(4, "green", "step", 10, "idle blue takes 10%")  # another cdtui releases
        await until(lambda: watch.state == "step" and watch.step == 10)
        records.state(4, "blue", "done", 100, "blue is live")  # that release ends
        await until(lambda: watch.state == "done")
        assert watch.live == "blue" and watch.verdicts[-1].text.startswith("10%")
        watch.own_runs.add(5)
        records.state(5, "green", "aborted", 0, "told by events already")
        await asyncio.sleep(1.5)
        assert watch.state == "done"  # this console's own run is not replayed from the records
        await until(lambda: watch.colours["blue"].known and watch.colours["green"].known)
        assert not watch.public.known  # the router's address is not checked while it is down
    finally:
        await poller.stop()
        records.close()
