"""The core seams: one bus per session, stage kinds as plug-ins, the front door's refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from cdtui.config import ConfigError, load_pipeline
from cdtui.engine.bus import EventBus
from cdtui.engine.engine import EngineOptions
from cdtui.engine.events import Event, Notice, RunFinished, StageFinished, Status
from cdtui.runners.local import ProcessResult
from cdtui.session import Session
from cdtui.stages import StageContext, StageKind, register, unregister


def write_pipeline(project: Path, data: dict) -> Path:
    path = project / "cdtui.yaml"
    path.write_text(json.dumps(data))
    return path


# -- the bus ------------------------------------------------------------------------------------
async def test_a_slow_async_subscriber_neither_slows_a_run_nor_loses_the_stores_record(
    tmp_path: Path,
):
    stages = [{"name": f"s{i}", "run": f"echo {i}"} for i in range(8)]
    write_pipeline(tmp_path, {"project": "p", "phases": [{"name": "A", "stages": stages}]})
    session = Session(tmp_path)
    assert session.load() == []
    seen: list[Event] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(1.0)
        seen.append(event)

    sub = session.bus.subscribe_async(slow, maxsize=4, name="slow sink")
    began = time.monotonic()
    engine = session.start(session.plan(), options=EngineOptions())
    assert await session.task is Status.SUCCEEDED
    took = time.monotonic() - began
    # Served in order, the slow sink alone would need more than 30 s for this run's events.
    assert took < 15, f"the run waited for its slow subscriber ({took:.1f} s)"
    assert sub.drops > 0 and len(seen) <= 1
    run = session.store.run(engine.run_id)
    assert run is not None and run.status is Status.SUCCEEDED
    attempts = session.store.attempts(engine.run_id)
    assert sorted(a.stage for a in attempts) == sorted(s["name"] for s in stages)
    assert all(a.status is Status.SUCCEEDED for a in attempts)
    await session.bus.close(timeout=0.1)
    session.close()


async def test_a_failing_subscriber_is_reported_never_raised():
    bus = EventBus()
    notices: list[Notice] = []
    bus.subscribe(lambda e: notices.append(e) if isinstance(e, Notice) else None)

    def broken(event: Event) -> None:
        raise RuntimeError("sink down")

    async def broken_async(event: Event) -> None:
        raise RuntimeError("webhook down")

    bus.subscribe(broken, kinds=(RunFinished,))
    sub = bus.subscribe_async(broken_async, kinds=(RunFinished,))
    bus.emit(RunFinished(1, 0.0, Status.SUCCEEDED))
    bus.emit(RunFinished(1, 0.0, Status.SUCCEEDED))
    assert await bus.drain(timeout=2)
    assert sub.errors == 2 and sub.delivered == 0
    texts = [n.text for n in notices]
    assert sum("sink down" in t for t in texts) == 2  # each sync failure is told
    assert sum("webhook down" in t for t in texts) == 1  # an async one once, then counted
    await bus.close()


async def test_unsubscribe_ends_delivery():
    bus = EventBus()
    got: list[Event] = []
    end = bus.subscribe(got.append)
    bus.emit(RunFinished(1, 0.0, Status.SUCCEEDED))
    end()
    bus.emit(RunFinished(2, 0.0, Status.SUCCEEDED))
    assert [e.run_id for e in got] == [1]


# -- stage kinds --------------------------------------------------------------------------------
class EchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    times: int = 1


class EchoKind(StageKind):
    """A kind that lives only in this test module: no engine change plugs it in."""

    key = "echo"
    config = EchoConfig

    def describe(self, spec: EchoConfig) -> str:
        return f"echo {spec.text} x{spec.times}"

    async def run(self, ctx: StageContext) -> ProcessResult:
        ctx.started(self.describe(ctx.stage.spec))
        out = ctx.output()
        for _ in range(ctx.stage.spec.times):
            out.feed("stdout", f"{ctx.stage.spec.text} {ctx.env['SECRET_TOKEN']}\n".encode())
        return ProcessResult(Status.SUCCEEDED, 0)


@pytest.fixture
def echo_kind() -> Iterator[None]:
    register(EchoKind())
    yield
    unregister("echo")


async def test_a_stage_kind_registered_in_a_test_module_plugs_in(
    tmp_path: Path, echo_kind: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ECHO_SECRET", "s3cr3t-value")
    data = {
        "project": "p",
        "secrets": {"SECRET_TOKEN": {"env": "ECHO_SECRET"}},
        "phases": [
            {
                "name": "A",
                "stages": [
                    {"name": "hello", "echo": {"text": "hi", "times": 2}},
                    {"name": "after", "run": "echo after", "needs": ["hello"]},
                ],
            }
        ],
    }
    write_pipeline(tmp_path, data)
    session = Session(tmp_path)
    assert session.load() == []
    stage = session.pipeline.phases[0].stages[0]
    assert (stage.kind, stage.command_text) == ("echo", "echo hi x2")
    seen: list[Event] = []
    engine = session.start(session.plan(), [seen.append], options=EngineOptions())
    assert await session.task is Status.SUCCEEDED
    log = session.store.log_path(engine.run_id, "A", "hello", 1).read_text()
    assert log == "hi ***\nhi ***\n"  # masked like any stage's output
    finished = [e.stage for e in seen if isinstance(e, StageFinished)]
    assert finished == ["hello", "after"]
    session.close()
    dry = subprocess.run(
        [sys.executable, "-c", _DRY_RUN, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    assert "echo hi x2" in dry.stdout


_DRY_RUN = """
import sys
from tests.test_core_seams import EchoKind
from cdtui.stages import register
register(EchoKind())
from cdtui.cli import main
sys.argv = ["cdtui", "run", "--dry-run", sys.argv[1]]
main()
"""


def test_a_registered_kinds_config_errors_are_located(tmp_path: Path, echo_kind: None):
    text = (
        "project: p\n"
        "phases:\n"
        "  - name: A\n"
        "    stages:\n"
        "      - name: hello\n"
        "        echo: {text: [1], tmes: 2}\n"
        "      - name: typo\n"
        "        ecoh: {text: x}\n"
    )
    path = tmp_path / "cdtui.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    errors = {e.path: e for e in caught.value.errors}
    assert errors["phases[0].stages[0].echo.text"].line == 6
    assert "did you mean 'times'" in errors["phases[0].stages[0].echo.tmes"].message
    assert "did you mean 'echo'" in errors["phases[0].stages[1].ecoh"].message
    assert "phases[0].stages[1].run" in errors  # a stage with no kind says what it lacks


def test_a_stage_with_two_kinds_is_refused_where_it_says_so(tmp_path: Path, echo_kind: None):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: p\nphases:\n  - name: A\n    stages:\n"
        "      - {name: both, run: 'true', echo: {text: x}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    (error,) = caught.value.errors
    assert error.path == "phases[0].stages[0].echo" and "one kind" in error.message


# -- the front door's refusals ------------------------------------------------------------------
UNTESTED = {
    "project": "shop",
    "phases": [
        {
            "name": "Build",
            "stages": [
                {
                    "name": "package",
                    "run": "mkdir -p dist && echo v2 > dist/app.txt",
                    "artifacts": ["dist/app.txt"],
                }
            ],
        },
        {"name": "Load", "stages": [{"name": "smoke", "run": "exit 3"}]},
        {
            "name": "Release",
            "gate": "confirm",
            "release": {
                "router": {"kind": "embedded", "listen": "127.0.0.1:1"},
                "blue": {"url": "http://127.0.0.1:2"},
                "green": {"url": "http://127.0.0.1:3", "deploy": "touch deployed"},
            },
        },
    ],
}


def cdtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdtui.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_untested_bytes_are_refused_by_run_approve_and_by_release(tmp_path: Path):
    write_pipeline(tmp_path, UNTESTED)
    built = cdtui("run", "--headless", str(tmp_path))
    assert built.returncode == 1, built.stdout + built.stderr  # Load failed: bytes untested
    approved = cdtui(
        "run", "--headless", "--phase", "Release", "--approve", "Release", str(tmp_path)
    )
    assert approved.returncode == 1, approved.stdout + approved.stderr
    assert "has no run that passed Load" in approved.stdout + approved.stderr
    released = cdtui("release", "--yes", str(tmp_path))
    assert released.returncode == 2, released.stdout + released.stderr
    assert "The artifact was not tested" in released.stderr
    assert "has no run that passed Load" in released.stderr
    assert not (tmp_path / "deployed").exists()  # nothing was deployed
