"""Shared fixtures: pipelines built from plain dicts, and an engine harness that records events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cdtui.config.models import Pipeline
from cdtui.engine.engine import Engine, EngineOptions
from cdtui.engine.events import Event, StageFinished, StageOutput
from cdtui.engine.plan import make_plan


class Recorder:
    """Collects events; helpers answer the questions tests ask."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def output(self, stage: str, stream: str | None = None) -> str:
        return "".join(
            e.text
            for e in self.of(StageOutput)
            if e.stage == stage and (stream is None or e.stream == stream)
        )

    def final(self, stage: str) -> StageFinished:
        return [e for e in self.of(StageFinished) if e.stage == stage][-1]


def pipeline_of(*phases: dict[str, Any], **top: Any) -> Pipeline:
    return Pipeline.model_validate({"project": "test", "phases": list(phases), **top})


EngineFactory = Callable[..., tuple[Engine, Recorder]]


@pytest.fixture
def make_engine(tmp_path: Path) -> EngineFactory:
    def factory(
        pipeline: Pipeline,
        *,
        phases: tuple[str, ...] = (),
        stages: tuple[str, ...] = (),
        secrets: dict[str, str] | None = None,
        **options: Any,
    ) -> tuple[Engine, Recorder]:
        plan = make_plan(pipeline, phases, stages)
        engine = Engine(
            pipeline,
            plan,
            project_dir=tmp_path,
            run_id=1,
            secrets=secrets,
            options=EngineOptions(**options),
        )
        recorder = Recorder()
        engine.subscribe(recorder)
        return engine, recorder

    return factory


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Tests never read or write the developer's own cdtui settings and themes."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))


@pytest.fixture(autouse=True)
def _private_state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test writes the developer's state home; tests keep the in-tree layout they assert on.

    The default (out of tree) is what tests/test_state_dir.py covers, with the override unset.
    """
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state-home")))
    monkeypatch.setenv("CDTUI_STATE_DIR", ".cdtui")


pytest_plugins = ["tests.sshd", "tests.moto_server"]  # sshd fleet: fleet, sshd, pool; moto
