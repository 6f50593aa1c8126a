"""Open model vs closed model against a server that freezes for a second, and a generator that
knows when it, not the server, is the bottleneck."""

from __future__ import annotations

import pytest

from cdtui.engine.events import MetricRecorded, Status
from cdtui.load.expressions import parse_expression
from cdtui.load.schedule import arrival_count, arrivals, rate_at
from cdtui.load.stats import Stats
from cdtui.load.thresholds import judge
from tests.conftest import pipeline_of
from tests.load_server import load_server_fixture  # noqa: F401 - provides load_server


async def run_stage(make_engine, load: dict):
    engine, recorder = make_engine(
        pipeline_of({"name": "Perf", "stages": [{"name": "load", "load": load}]})
    )
    await engine.run()
    figures = {m.name: m.value for m in recorder.of(MetricRecorded)}
    return recorder.final("load"), figures


async def test_a_one_second_stall_shows_in_the_open_models_p99_not_the_closed_ones(
    make_engine, load_server
):
    # Every answer due between 1 s and 2 s after the first request waits until 2 s.
    opened = load_server(freeze_at=1.0, freeze_for=1.0)
    final, open_model = await run_stage(
        make_engine, {"url": f"{opened}/fast", "rate": "200/s", "duration": "3s"}
    )
    assert final.status is Status.SUCCEEDED, final.reason
    # A third of the requests were due during the stall: timed from when they were due, the
    # slowest waited nearly the whole second.
    assert open_model["http_req_duration p(99)"] >= 800, open_model
    assert open_model["http_req_duration p(90)"] >= 300, open_model
    assert open_model["http_reqs count"] == 600

    closed = load_server(freeze_at=1.0, freeze_for=1.0)
    final, closed_model = await run_stage(
        make_engine, {"url": f"{closed}/fast", "vus": 2, "duration": "3s"}
    )
    assert final.status is Status.SUCCEEDED, final.reason
    # The two users waited out the stall once each: two slow samples among thousands.
    assert closed_model["http_req_duration max"] >= 800, closed_model
    assert closed_model["http_req_duration p(99)"] < 100, closed_model
    assert closed_model["http_reqs count"] > 400, closed_model


async def test_a_generator_pushed_past_its_cpu_is_reported_invalid(make_engine, load_server):
    base = load_server()
    final, figures = await run_stage(
        make_engine,
        {
            "url": f"{base}/fast",
            "rate": "1000000/s",
            "duration": "1s",
            "timeout": "2s",
            "thresholds": {"http_req_duration": ["p(95)<100000"]},
        },
    )
    assert final.status is Status.FAILED
    assert final.reason.startswith("INVALID result (not judged): "), final.reason
    assert "fell behind its schedule" in final.reason or "% of a core" in final.reason
    assert "workers: 2 or auto" in final.reason
    assert figures["load generator cpu"] > 50 or figures["load generator lag p(99)"] > 50


async def test_requests_waiting_for_the_pools_connections_make_the_result_invalid(
    make_engine, load_server
):
    base = load_server()
    final, _ = await run_stage(
        make_engine,
        {"url": f"{base}/slow?ms=50", "rate": "100/s", "duration": "1s", "connections": 2},
    )
    assert final.status is Status.FAILED
    assert "of requests waited for a free connection (at most 2 open): raise connections:" in (
        final.reason
    )
    assert "more workers" not in final.reason  # the pool's limit, not the generator's CPU


def test_a_ramp_schedules_arrivals_along_its_stages():
    ramp = [(1.0, 100.0), (1.0, 100.0), (1.0, 0.0)]  # up to 100/s, hold, down to 0
    offsets = list(arrivals(None, ramp, 0))
    assert len(offsets) == arrival_count(None, ramp, 0) == 50 + 100 + 50
    assert offsets == sorted(offsets) and offsets[-1] < 3.0
    in_first = sum(1 for t in offsets if t < 0.5)  # a ramp from 0: a quarter of its arrivals
    assert 11 <= in_first <= 14, in_first
    assert rate_at(None, ramp, 0.5) == 50 and rate_at(None, ramp, 1.5) == 100
    assert len(list(arrivals(200.0, [], 1.0))) == 200


async def test_a_ramping_open_model_sends_what_its_stages_add_up_to(make_engine, load_server):
    base = load_server()
    final, figures = await run_stage(
        make_engine,
        {"url": f"{base}/fast", "stages": [{"duration": "1s", "target": "200/s"}], "rate": "100/s"},
    )
    assert final.status is Status.SUCCEEDED, final.reason
    assert figures["http_reqs count"] == 150  # 100/s rising to 200/s for 1 s


def test_each_aggregation_reads_its_figure():
    stats = Stats()
    for micros in (1000, 2000, 3000, 4000):
        stats.answered(micros, 200)
    stats.answered(5000, 503)

    def value(metric: str, text: str) -> float:
        return judge(parse_expression(metric, text), stats, 2.0, None).value

    assert value("http_req_duration", "avg<1") == pytest.approx(3.0)
    assert value("http_req_duration", "min<1") == 1.0
    assert value("http_req_duration", "max<1") == 5.0
    assert value("http_req_duration", "med<1") == pytest.approx(3.0, rel=0.01)
    assert value("http_req_failed", "rate<1") == 0.2
    assert value("http_reqs", "rate>1") == 2.5 and value("http_reqs", "count>1") == 5
