"""Artifacts kept by content and stage metrics: real files, real engine runs, a real store."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest

from cdtui.engine.events import ArtifactStored, MetricRecorded, Notice, Status
from cdtui.headless import HeadlessRenderer
from cdtui.store import RunStore
from cdtui.store import artifacts as artifacts_module
from cdtui.store.artifacts import METRICS_MAX_COUNT, read_metrics
from tests.conftest import EngineFactory, pipeline_of

PY = sys.executable
SMOKE = Path(__file__).resolve().parents[1] / "sample_project" / "scripts" / "smoke.py"


def one_stage(**stage: object) -> object:
    return pipeline_of({"name": "Build", "stages": [{"name": "package", **stage}]})


def write_metrics(*lines: object) -> str:
    """A stage command that appends each line (a dict as JSON, a str as is) to $CDTUI_METRICS."""
    text = "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines)
    return f"import os; open(os.environ['CDTUI_METRICS'], 'a').write({text!r})"


async def run_recorded(make_engine: EngineFactory, pipeline: object, store: RunStore | None = None):
    engine, recorder = make_engine(pipeline)
    if store is not None:
        engine.subscribe(store.record)
    status = await engine.run()
    return status, recorder


async def test_a_succeeded_stage_stores_its_artifacts_by_digest(
    make_engine: EngineFactory, tmp_path: Path
):
    build = (
        "mkdir -p dist && head -c 300000 /dev/urandom > dist/shop-1.2.0.pyz && echo x > dist/b.txt"
    )
    pipeline = one_stage(run=build, artifacts=["dist/*.pyz", "dist/*.txt"])

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.SUCCEEDED
    stored = recorder.of(ArtifactStored)
    assert [a.path for a in stored] == ["dist/shop-1.2.0.pyz", "dist/b.txt"]
    for event in stored:
        original = (tmp_path / event.path).read_bytes()
        assert event.sha256 == hashlib.sha256(original).hexdigest()
        assert event.size == len(original)
        assert (event.phase, event.stage, event.attempt) == ("Build", "package", 1)
        copy = tmp_path / ".cdtui" / "artifacts" / "sha256" / event.sha256
        assert copy.read_bytes() == original
    leftovers = list((tmp_path / ".cdtui" / "artifacts" / "sha256").glob(".incoming-*"))
    assert leftovers == []


async def test_artifacts_are_relative_to_the_stage_cwd(make_engine: EngineFactory, tmp_path: Path):
    (tmp_path / "app").mkdir()
    pipeline = one_stage(run="mkdir -p out && echo hi > out/a.whl", cwd="app", artifacts=["out/*"])

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.SUCCEEDED
    assert [a.path for a in recorder.of(ArtifactStored)] == ["app/out/a.whl"]


async def test_a_pattern_matching_nothing_fails_the_stage_and_stores_nothing(
    make_engine: EngineFactory, tmp_path: Path
):
    pipeline = one_stage(
        run="mkdir -p dist && echo a > dist/a.whl", artifacts=["dist/*.whl", "dist/*.pyz"]
    )

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.FAILED
    final = recorder.final("package")
    assert final.status is Status.FAILED
    assert final.reason == f"artifacts: dist/*.pyz matched no file in {tmp_path}"
    assert recorder.of(ArtifactStored) == []
    assert not (tmp_path / ".cdtui" / "artifacts").exists()


async def test_a_directory_is_not_an_artifact(make_engine: EngineFactory):
    pipeline = one_stage(run="mkdir -p dist/sub", artifacts=["dist/*"])

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.FAILED
    assert "dist/* matched no file" in recorder.final("package").reason


async def test_a_failed_stage_stores_no_artifact(make_engine: EngineFactory, tmp_path: Path):
    pipeline = one_stage(
        run="mkdir -p dist && echo a > dist/a.pyz && exit 3", artifacts=["dist/*.pyz"]
    )

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.FAILED
    assert recorder.final("package").exit_code == 3
    assert recorder.of(ArtifactStored) == []
    assert not (tmp_path / ".cdtui" / "artifacts").exists()


async def test_the_same_bytes_are_stored_once(make_engine: EngineFactory, tmp_path: Path):
    pipeline = one_stage(run="mkdir -p dist && echo same > dist/a.pyz", artifacts=["dist/*.pyz"])
    await run_recorded(make_engine, pipeline)
    copy = next((tmp_path / ".cdtui" / "artifacts" / "sha256").iterdir())
    first = copy.stat().st_mtime_ns

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.SUCCEEDED
    assert [a.sha256 for a in recorder.of(ArtifactStored)] == [copy.name]
    assert copy.stat().st_mtime_ns == first
    assert len(list(copy.parent.iterdir())) == 1


async def test_metrics_are_read_and_judged_for_each_op(make_engine: EngineFactory):
    lines = [
        {"name": "p95 static", "value": 12.3, "unit": "ms", "threshold": 50},
        {"name": "p50", "value": 60, "unit": "ms", "threshold": 50, "op": "<="},
        {"name": "lt", "value": 5, "threshold": 5, "op": "<"},
        {"name": "ge", "value": 5, "threshold": 5, "op": ">="},
        {"name": "gt", "value": 5, "threshold": 4, "op": ">"},
        {"name": "requests", "value": 100},
    ]
    pipeline = one_stage(run=[PY, "-c", write_metrics(*lines)])

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.SUCCEEDED
    got = [(m.name, m.value, m.unit, m.threshold, m.op, m.ok) for m in recorder.of(MetricRecorded)]
    assert got == [
        ("p95 static", 12.3, "ms", 50.0, "<=", True),
        ("p50", 60.0, "ms", 50.0, "<=", False),
        ("lt", 5.0, "", 5.0, "<", False),
        ("ge", 5.0, "", 5.0, ">=", True),
        ("gt", 5.0, "", 4.0, ">", True),
        ("requests", 100.0, "", None, "<=", None),
    ]


async def test_metrics_of_a_failed_attempt_are_kept_and_each_attempt_has_its_own_file(
    make_engine: EngineFactory,
):
    script = write_metrics({"name": "errors", "value": 3}) + "; raise SystemExit(1)"
    pipeline = one_stage(run=[PY, "-c", script], retries={"count": 1, "backoff": "0s"})

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.FAILED
    assert [(m.attempt, m.name) for m in recorder.of(MetricRecorded)] == [
        (1, "errors"),
        (2, "errors"),
    ]


async def test_a_bad_metric_line_is_a_warning_naming_file_and_line(make_engine: EngineFactory):
    script = write_metrics(
        {"name": "ok", "value": 1},
        "not json",
        {"name": "no value"},
        {"name": "bad op", "value": 1, "threshold": 2, "op": "=="},
        {"name": "flag", "value": True},
        {"name": "last", "value": 2},
    )
    pipeline = one_stage(run=[PY, "-c", script])

    status, recorder = await run_recorded(make_engine, pipeline)

    assert status is Status.SUCCEEDED
    assert [m.name for m in recorder.of(MetricRecorded)] == ["ok", "last"]
    warnings = [n.text for n in recorder.of(Notice) if n.level == "warning"]
    where = ".cdtui/logs/1/build/package.1.metrics.jsonl"
    assert [w.split(": ")[0] for w in warnings] == [f"{where}:{n}" for n in (2, 3, 4, 5)]
    assert "not JSON" in warnings[0]
    assert "value is missing" in warnings[1]
    assert "op must be one of" in warnings[2]
    assert "must be a number" in warnings[3]
    assert all(n.stage == "package" for n in recorder.of(Notice))


async def test_metric_names_are_masked(make_engine: EngineFactory):
    script = write_metrics({"name": "latency for hunter2hunter2", "value": 1, "unit": "ms"})
    pipeline = one_stage(run=[PY, "-c", script])
    engine, recorder = make_engine(pipeline, secrets={"PW": "hunter2hunter2"})

    await engine.run()

    [metric] = recorder.of(MetricRecorded)
    assert "hunter2" not in metric.name
    assert metric.value == 1.0


def test_an_oversize_metrics_file_is_read_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "m.jsonl"
    line = json.dumps({"name": "n", "value": 1}) + "\n"
    path.write_text(line * (METRICS_MAX_COUNT + 50))

    metrics, warnings = read_metrics(path, "m.jsonl")

    assert len(metrics) == METRICS_MAX_COUNT
    assert warnings == [
        f"m.jsonl:{METRICS_MAX_COUNT + 1}: over {METRICS_MAX_COUNT} metrics; the rest ignored"
    ]

    monkeypatch.setattr(artifacts_module, "METRICS_MAX_BYTES", len(line) * 3 + 5)
    metrics, warnings = read_metrics(path, "m.jsonl")

    assert len(metrics) == 3  # the cut fourth line is not read as a bad line
    assert warnings == [f"m.jsonl: over {len(line) * 3 + 5} bytes; only the first MiB was read"]


def test_a_missing_metrics_file_is_no_metrics(tmp_path: Path):
    assert read_metrics(tmp_path / "absent.jsonl", "absent") == ([], [])


async def test_the_store_answers_the_release_console(make_engine: EngineFactory, tmp_path: Path):
    build = "mkdir -p dist && echo v1 > dist/shop.pyz"
    pipeline = pipeline_of(
        {
            "name": "Build",
            "stages": [
                {"name": "package", "run": build, "artifacts": ["dist/*.pyz"]},
                {
                    "name": "smoke",
                    "run": [PY, "-c", write_metrics({"name": "p95", "value": 9, "threshold": 50})],
                },
            ],
        }
    )
    with RunStore(tmp_path) as store:
        ids = []
        for _ in range(3):
            run_id = store.begin_run("test", "alice", "all")
            ids.append(run_id)
            engine, _ = make_engine(pipeline)
            engine.run_id = run_id
            engine.subscribe(store.record)
            assert await engine.run() is Status.SUCCEEDED
        # a fourth run stores nothing: the latest artifacts stay those of run 3
        nothing = store.begin_run("test", "alice", "all")
        engine, _ = make_engine(
            pipeline_of({"name": "X", "stages": [{"name": "s", "run": "true"}]})
        )
        engine.run_id = nothing
        engine.subscribe(store.record)
        await engine.run()

        digest = hashlib.sha256(b"v1\n").hexdigest()
        latest = store.latest_artifacts()
        assert [(a.run_id, a.path, a.sha256, a.size) for a in latest] == [
            (ids[2], "dist/shop.pyz", digest, 3)
        ]
        assert store.artifacts(ids[0])[0].stage == "package"
        assert store.artifacts(nothing) == []
        assert store.runs_with_artifact(digest) == ids
        assert store.runs_with_artifact("0" * 64) == []
        assert store.artifact_file(digest).read_bytes() == b"v1\n"
        [metric] = store.metrics(ids[1])
        assert (metric.run_id, metric.stage, metric.name, metric.value) == (
            ids[1],
            "smoke",
            "p95",
            9,
        )
        assert (metric.threshold, metric.op, metric.ok) == (50.0, "<=", True)
        assert store.metrics(nothing) == []


def test_the_store_reads_back_an_absent_threshold_as_none(tmp_path: Path):
    with RunStore(tmp_path) as store:
        rid = store.begin_run("test", "alice", "all")
        store.record(MetricRecorded(rid, 1.0, "P", "s", 1, "count", 7.0))
        store.record(MetricRecorded(rid, 2.0, "P", "s", 1, "slow", 9.0, "ms", 5.0, "<", False))
        got = [(m.name, m.threshold, m.ok, m.unit) for m in store.metrics(rid)]
        assert got == [("count", None, None, ""), ("slow", 5.0, False, "ms")]


@pytest.mark.parametrize("table", ["artifacts", "metrics"])
def test_the_new_tables_are_append_only(tmp_path: Path, table: str):
    with RunStore(tmp_path) as store:
        rid = store.begin_run("test", "alice", "all")
        store.record(ArtifactStored(rid, 1.0, "P", "s", 1, "a", "ab" * 32, 1))
        store.record(MetricRecorded(rid, 1.0, "P", "s", 1, "m", 1.0))
    conn = sqlite3.connect(tmp_path / ".cdtui" / "runs.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"UPDATE {table} SET run_id = 99")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 1


def test_a_version_1_store_gains_the_new_tables(tmp_path: Path):
    (tmp_path / ".cdtui").mkdir()
    conn = sqlite3.connect(tmp_path / ".cdtui" / "runs.db")
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA user_version=1")
    conn.close()
    with RunStore(tmp_path) as store:
        assert store.latest_artifacts() == []
        assert store.metrics(1) == []


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_the_sample_smoke_script_reports_its_figures_as_metrics(tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    path = tmp_path / "smoke.metrics.jsonl"
    try:
        done = subprocess.run(
            [PY, str(SMOKE), url, "--requests", "20", "--p95-ms", "5000"],
            env={**os.environ, "CDTUI_METRICS": str(path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        plain = subprocess.run(
            [PY, str(SMOKE), url, "--requests", "5", "--p95-ms", "5000"],
            env={k: v for k, v in os.environ.items() if k != "CDTUI_METRICS"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert done.returncode == 0, done.stdout + done.stderr
    assert plain.returncode == 0 and "OK: p95 within 5000 ms" in plain.stdout
    metrics, warnings = read_metrics(path, "smoke")
    assert warnings == []
    by_name = {m.name: m for m in metrics}
    assert list(by_name) == ["p50", "p95", "requests", "errors"]
    assert (by_name["p95"].unit, by_name["p95"].threshold, by_name["p95"].ok) == ("ms", 5000, True)
    assert by_name["p50"].value <= by_name["p95"].value
    assert (by_name["requests"].value, by_name["errors"].value) == (20, 0)
    assert by_name["errors"].ok is True


def test_headless_prints_one_line_per_artifact_and_metric():
    out = StringIO()
    render = HeadlessRenderer(out, color=False)

    render(
        ArtifactStored(1, 1.0, "Build", "package", 1, "dist/shop-1.2.0.pyz", "abcd1234" * 8, 12_500)
    )
    render(MetricRecorded(1, 1.0, "Test", "smoke", 1, "p95", 12.3, "ms", 50.0, "<=", True))
    render(MetricRecorded(1, 1.0, "Test", "smoke", 1, "errors", 3.0, "", 0.0, "<=", False))
    render(MetricRecorded(1, 1.0, "Test", "smoke", 1, "requests", 300.0))

    assert out.getvalue().splitlines() == [
        "  artifact dist/shop-1.2.0.pyz sha256:abcd1234… 12 KB",
        "  ✓ smoke: p95 12.3 ms (<= 50)",
        "  ✗ smoke: errors 3 (<= 0)",
        "  · smoke: requests 300",
    ]
