"""Helpers for the artifact repository tests: real engine runs with run ids, into a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cdtui.cli import main
from cdtui.engine.engine import Engine, EngineOptions
from cdtui.engine.events import Status
from cdtui.engine.plan import make_plan
from cdtui.store import RunStore
from tests.conftest import Recorder, pipeline_of


async def run_pipeline(
    project: Path, *phases: dict[str, Any], secret_values: dict[str, str] | None = None, **top: Any
) -> tuple[Status, Recorder, int]:
    """One engine run recorded in the project's store (a new run id each time)."""
    pipeline = pipeline_of(*phases, **top)
    with RunStore(project) as store:
        run_id = store.begin_run("test", "tester", "all")
        engine = Engine(
            pipeline, make_plan(pipeline, (), ()), project_dir=project, run_id=run_id,
            secrets=secret_values, options=EngineOptions(),
        )  # fmt: skip
        recorder = Recorder()
        engine.subscribe(recorder)
        engine.subscribe(store.record)
        status = await engine.run()
        store.flush()
    return status, recorder, run_id


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
