"""The load: stage kind against real local HTTP servers: thresholds judged in k6's words, the
failure naming each threshold with its value and limit, and the rate kept."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from cdtui.engine.events import LoadProgress, MetricRecorded, Status
from tests.conftest import pipeline_of
from tests.load_server import load_server_fixture  # noqa: F401 - provides load_server


def load_stage(name: str = "load", **load) -> dict:
    return {"name": name, "load": load}


async def run_load(make_engine, *stages: dict):
    engine, recorder = make_engine(pipeline_of({"name": "Perf", "stages": list(stages)}))
    await engine.run()
    return recorder


def metrics(recorder, stage: str = "load") -> dict[str, MetricRecorded]:
    return {m.name: m for m in recorder.of(MetricRecorded) if m.stage == stage}


async def test_a_slow_path_fails_a_tight_p95_and_passes_a_loose_one(make_engine, load_server):
    base = load_server()
    common = {"url": f"{base}/slow?ms=20", "rate": "50/s", "duration": "1s"}
    recorder = await run_load(
        make_engine,
        load_stage("tight", **common, thresholds={"http_req_duration": ["p(95)<5"]}),
        load_stage("loose", **common, thresholds={"http_req_duration": ["p(95)<3000"]}),
    )
    tight, loose = recorder.final("tight"), recorder.final("loose")
    assert tight.status is Status.FAILED
    assert "http_req_duration p(95)<5: measured " in tight.reason
    assert "limit < 5 ms" in tight.reason
    measured = metrics(recorder, "tight")["http_req_duration p(95)"]
    assert measured.ok is False and measured.threshold == 5 and measured.op == "<"
    assert 19 <= measured.value < 200, measured.value  # the server's 20 ms, not the limit
    assert loose.status is Status.SUCCEEDED, loose.reason
    assert metrics(recorder, "loose")["http_req_duration p(95)"].ok is True
    assert "✓ http_req_duration p(95)<3000" in recorder.output("loose")


async def failing(make_engine, url: str, rate: str, thresholds: dict):
    """One second of load that must fail: (its final event, the recorder)."""
    load = load_stage(url=url, rate=rate, duration="1s", thresholds=thresholds)
    recorder = await run_load(make_engine, load)
    final = recorder.final("load")
    assert final.status is Status.FAILED
    return final, recorder


async def test_an_error_path_fails_the_error_rate_threshold(make_engine, load_server):
    limit = {"http_req_failed": ["rate<0.01"]}
    final, recorder = await failing(make_engine, f"{load_server()}/error", "50/s", limit)
    assert "http_req_failed rate<0.01: measured 1, limit < 0.01" in final.reason
    assert metrics(recorder)["http_req_failed rate"].value == 1.0
    assert "errors: status 50 (HTTP 500)" in recorder.output("load")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_the_achieved_rate_is_within_5_percent_of_500_a_second(
    make_engine, load_server, monkeypatch, loop
):
    monkeypatch.setenv("CDTUI_LOAD_LOOP", loop)  # the workers' event loop (uvloop by default)
    base = load_server()
    recorder = await run_load(
        make_engine,
        load_stage(
            url=f"{base}/fast",
            rate="500/s",
            duration="2s",
            thresholds={"http_reqs": ["rate>=475", "count>=950"], "http_req_failed": ["rate<0.01"]},
        ),
    )
    final = recorder.final("load")
    assert final.status is Status.SUCCEEDED, final.reason
    rate = metrics(recorder)["http_reqs rate"].value
    assert 475 <= rate <= 525, rate
    assert metrics(recorder)["http_reqs count"].value == 1000
    progress = recorder.of(LoadProgress)
    assert progress and progress[0].target_rate == 500 and progress[0].stage == "load"
    assert 400 <= progress[0].rate <= 600


async def test_an_unreachable_target_fails_with_the_reason(make_engine):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = await run_load(
        make_engine, load_stage(url=f"http://127.0.0.1:{port}/", rate="10/s", duration="1s")
    )
    final = recorder.final("load")
    assert final.status is Status.FAILED
    assert final.reason == (
        f"cannot reach 127.0.0.1:{port} (http://127.0.0.1:{port}/): connection refused"
    )
    assert final.duration < 2


async def test_the_summary_and_junit_report_name_every_threshold(
    make_engine, load_server, tmp_path: Path
):
    base = load_server()
    recorder = await run_load(
        make_engine,
        load_stage(
            url=f"{base}/fast",
            rate="50/s",
            duration="1s",
            thresholds={
                "http_req_duration": ["p(99)<3000", "p(50)<0.001"],
                "http_req_failed": ["rate<0.01"],
            },
            summary="reports/load.json",
            junit="reports/load.xml",
        ),
    )
    assert recorder.final("load").status is Status.FAILED
    import json
    import xml.etree.ElementTree as ET

    data = json.loads((tmp_path / "reports/load.json").read_text())
    assert data["requests"] == 50 and data["passed"] is False and data["valid"] is True
    wanted = ["p(99)<3000", "p(50)<0.001", "rate<0.01"]
    assert [t["threshold"] for t in data["thresholds"]] == wanted
    assert [t["passed"] for t in data["thresholds"]] == [True, False, True]
    suite = ET.parse(tmp_path / "reports/load.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1"
    cases = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert set(cases) == {
        "generator kept up",
        "http_req_duration p(99)<3000",
        "http_req_duration p(50)<0.001",
        "http_req_failed rate<0.01",
    }
    failure = cases["http_req_duration p(50)<0.001"]
    assert failure is not None and "limit < 0.001 ms" in failure.get("message", "")


async def test_abort_on_fail_stops_the_load_once_its_threshold_fails(make_engine, load_server):
    base = load_server()
    check = {"threshold": "rate<0.01", "abort_on_fail": True, "delay": "1s"}
    recorder = await run_load(
        make_engine,
        load_stage(
            url=f"{base}/error",
            rate="50/s",
            duration="20s",
            thresholds={"http_req_failed": [check]},
        ),
    )
    final = recorder.final("load")
    assert final.status is Status.FAILED
    assert "stopped early: abort_on_fail after 1s: http_req_failed rate<0.01" in final.reason
    assert final.duration < 5  # not the 20 s asked for
    assert metrics(recorder)["http_reqs count"].value < 200


async def test_two_workers_share_the_schedule_and_their_figures_merge(make_engine, load_server):
    base = load_server()
    recorder = await run_load(
        make_engine,
        load_stage(url=f"{base}/fast", rate="400/s", duration="1s", workers=2, summary="s.json"),
    )
    assert recorder.final("load").status is Status.SUCCEEDED
    assert metrics(recorder)["http_reqs count"].value == 400
    assert "(2 worker(s), up to 256 connections)" in recorder.output("load")


async def test_cancelling_the_stage_stops_its_workers(make_engine, load_server):
    base = load_server()
    engine, recorder = make_engine(
        pipeline_of(
            {
                "name": "Perf",
                "stages": [load_stage(url=f"{base}/fast", rate="50/s", duration="30s")],
            }
        )
    )
    running = asyncio.create_task(engine.run())
    while not recorder.of(LoadProgress):
        await asyncio.sleep(0.05)
    assert engine.cancel_stage("Perf", "load", "cancelled by the operator")
    await asyncio.wait_for(running, 10)
    final = recorder.final("load")
    assert final.status is Status.CANCELLED and final.reason == "cancelled by the operator"


async def test_the_stages_timeout_ends_a_load_that_would_run_on(make_engine, load_server):
    base = load_server()
    stage = load_stage(url=f"{base}/fast", rate="20/s", duration="30s")
    recorder = await run_load(make_engine, {**stage, "timeout": "1500ms"})
    final = recorder.final("load")
    assert final.status is Status.TIMED_OUT and final.reason == "timed out after 1.5s"
    assert final.duration < 4


async def test_a_duration_threshold_with_nothing_answered_fails(make_engine, load_server):
    limit = {"http_req_duration": ["p(95)<1000"]}
    final, recorder = await failing(make_engine, f"{load_server()}/reset", "20/s", limit)
    assert final.reason == "http_req_duration p(95)<1000: no request was answered, nothing to time"
    assert "errors: reset 20 (" in recorder.output("load")
