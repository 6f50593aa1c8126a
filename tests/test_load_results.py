"""What a load run keeps and compares: the previous passing run's figures, regression in %,
max_regression; and the pieces the figures rest on (histogram precision, HTTP framing)."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path

import pytest

from cdtui.engine.engine import EngineOptions
from cdtui.engine.events import Status
from cdtui.load.client import Origin, Pool, RequestError, error_kind
from cdtui.load.histogram import Histogram
from cdtui.session import Session
from tests.load_server import load_server_fixture  # noqa: F401 - provides load_server


async def run_session(project: Path, load: dict):
    pipeline = {
        "project": "p",
        "phases": [{"name": "Perf", "stages": [{"name": "api", "load": load}]}],
    }
    (project / "cdtui.yaml").write_text(json.dumps(pipeline))
    session = Session(project)
    assert session.load() == []
    engine = session.start(session.plan(), options=EngineOptions())
    status = await session.task
    attempts = session.store.attempts(engine.run_id)
    metrics = {m.name: m for m in session.store.metrics(engine.run_id)}
    await session.bus.close(timeout=1)
    session.close()
    return status, attempts[0], metrics


async def test_a_regression_past_max_regression_fails_against_the_last_passing_run(
    tmp_path: Path, load_server
):
    base = load_server()
    load = {
        "rate": "50/s",
        "duration": "1s",
        "max_regression": "10%",
        "thresholds": {"http_req_failed": ["rate<0.01"]},
    }
    status, first, metrics = await run_session(tmp_path, {"url": f"{base}/fast", **load})
    assert status is Status.SUCCEEDED, first.reason
    assert not any(name.startswith("regression ") for name in metrics)  # nothing to compare

    status, _, _ = await run_session(tmp_path, {"url": f"{base}/error", **load})
    assert status is Status.FAILED  # a failing run is no baseline

    status, second, metrics = await run_session(tmp_path, {"url": f"{base}/slow?ms=30", **load})
    assert status is Status.FAILED
    assert "http_req_duration p(95) regressed" in second.reason
    assert "against run 1 (limit 10%)" in second.reason  # run 2 failed: run 1 is the baseline
    regression = metrics["regression http_req_duration p(95)"]
    assert regression.value > 100 and regression.threshold == 10 and regression.ok is False
    assert metrics["regression http_reqs rate"].threshold is None  # told, not held
    (told,) = [line for line in second.log_path.read_text().splitlines() if "against run" in line]
    assert told.startswith("against run 1: ") and "http_req_duration p(95) " in told, told


def test_the_histogram_holds_percentiles_to_one_percent():
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 1.5)) for _ in range(50_000)]  # microseconds
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    ordered = sorted(values)
    for pct in (50, 90, 95, 99, 99.9):
        exact = ordered[max(0, math.ceil(len(ordered) * pct / 100) - 1)] / 1000
        assert histogram.percentile(pct) == pytest.approx(exact, rel=0.01), pct
    merged = Histogram.from_json(json.loads(json.dumps(histogram.to_json())))
    merged.merge(histogram)
    assert merged.count == 2 * len(values) and merged.maximum == max(values) / 1000
    assert merged.percentile(99) == histogram.percentile(99)


async def test_the_client_reads_every_framing_and_names_each_failure(load_server):
    base = load_server()
    port = int(base.rsplit(":", 1)[1])
    pool = Pool(Origin("127.0.0.1", port), 4, 2.0)

    def get(path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    for path in ("/fast", "/chunked", "/split", "/fast", "/close", "/fast"):
        assert await pool.send(get(path), 2.0) == 200, path
    assert await pool.send(get("/error"), 2.0) == 500
    assert await pool.send(b"HEAD /fast HTTP/1.1\r\nHost: x\r\n\r\n", 2.0) == 200
    assert await pool.send(get("/fast"), 2.0) == 200  # the HEAD left nothing behind
    assert pool.opened == 2  # kept alive except after the close-delimited answer
    with pytest.raises(Exception) as caught:
        await pool.send(get("/reset"), 2.0)
    assert error_kind(caught.value) == "reset"
    with pytest.raises(TimeoutError):
        await pool.send(get("/slow?ms=500"), 0.1)
    pool.close()
    refused = Pool(Origin("127.0.0.1", 1), 1, 1.0)
    with pytest.raises(OSError) as caught:
        await refused.send(get("/"), 1.0)
    assert error_kind(caught.value) == "refused"
    assert error_kind(RequestError("status", "HTTP 503")) == "status"
    await asyncio.sleep(0)
