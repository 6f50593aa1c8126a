"""Shared helpers: a temporary project, an engine wired to a real store, timing."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cdtui.config.models import Pipeline

# Benches make throw-away projects: their state lives (and goes) with them, not in ~/.local/state.
os.environ.setdefault("CDTUI_STATE_DIR", ".cdtui")
from cdtui.engine.engine import Engine, EngineOptions
from cdtui.engine.plan import make_plan
from cdtui.store import RunStore


def engine_with_store(
    pipeline_dict: dict[str, Any],
    project_dir: Path,
    jobs: int = 1,
    secrets: dict[str, str] | None = None,
):
    os.chdir(project_dir)  # as the CLI does: stages then spawn without changing directory
    pipeline = Pipeline.model_validate(pipeline_dict)
    store = RunStore(project_dir)
    run_id = store.begin_run(pipeline.project, "bench", "bench")
    engine = Engine(
        pipeline,
        make_plan(pipeline),
        project_dir=project_dir,
        run_id=run_id,
        secrets=secrets,
        options=EngineOptions(jobs=jobs),
    )
    engine.subscribe(store.record)
    return engine, store


def interleaved(
    runs: int, ours: Callable[[], float], base: Callable[[], float]
) -> tuple[float, float]:
    """Median seconds of each, runs alternating so machine noise hits both alike."""
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(base())
    return statistics.median(a), statistics.median(b)


def temp_project() -> Path:
    return Path(tempfile.mkdtemp(prefix="cdtui-bench-"))


def drop_project(project_dir: Path) -> None:
    os.chdir(HOME)
    shutil.rmtree(project_dir, ignore_errors=True)


HOME = os.getcwd()


def clock() -> float:
    return time.perf_counter()


def time_run(pipeline_dict: dict[str, Any], project_dir: Path, jobs: int = 1) -> float:
    """Seconds one run of the pipeline takes through a real engine and store (must succeed)."""
    import asyncio

    engine, store = engine_with_store(pipeline_dict, project_dir, jobs=jobs)
    began = clock()
    status = asyncio.run(engine.run())
    took = clock() - began
    store.close()
    assert status == "SUCCEEDED", status
    return took


def moto_server() -> tuple[Any, str]:
    """A started moto server on loopback and its URL, with fake credentials in the environment
    (a bench never reaches a real account); stop it with ``server.stop()``."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access line per request

    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
