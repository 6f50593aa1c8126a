"""``${namespace.path}`` references: expanded quoted in shell strings, left alone for the shell
otherwise, and a missing one fails the stage naming what exists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cdtui.config.loader import load_pipeline
from cdtui.engine.interpolate import InterpolationError, Scope, expand, expand_command, references

VALUES = {
    "artifacts": {"wheel": {"path": "/tmp/my dist/shop.whl", "sha256": "ab12"}},
    "stages": {"version": {"outputs": {"version": "1.2.3"}}},
    "matrix": {},
    "stack": {},
}


def test_shell_strings_get_quoted_values_and_shell_expansions_stay() -> None:
    text = 'deploy ${artifacts.wheel.path} ${HOME} "$X" ${stages.version.outputs.version}'
    assert expand(text, VALUES, shell=True) == "deploy '/tmp/my dist/shop.whl' ${HOME} \"$X\" 1.2.3"


def test_argv_elements_are_expanded_as_they_are() -> None:
    assert expand_command(["cp", "${artifacts.wheel.path}", "x"], VALUES) == [
        "cp",
        "/tmp/my dist/shop.whl",
        "x",
    ]


def test_double_dollar_is_a_literal() -> None:
    assert expand("echo $${artifacts.wheel.path}", VALUES, shell=True) == (
        "echo ${artifacts.wheel.path}"
    )
    assert references("a $${stack.X} ${stack.Y} ${HOME}") == ["stack.Y"]


def test_missing_names_say_what_exists() -> None:
    with pytest.raises(InterpolationError, match=r"did you mean 'version'"):
        expand("${stages.version.outputs.vesion}", VALUES, shell=True)
    with pytest.raises(InterpolationError, match=r"it has: path, sha256"):
        expand("${artifacts.wheel.size}", VALUES, shell=True)
    with pytest.raises(InterpolationError, match=r"names a group"):
        expand("${artifacts.wheel}", VALUES, shell=True)
    with pytest.raises(InterpolationError, match=r"did you mean \$\{stack"):
        expand("${stak.WebUrl}", VALUES, shell=True)


def test_scope_layers_a_stage_s_own_values() -> None:
    scope = Scope()
    scope.publish("stack", "WebUrl", "http://127.0.0.1:1")
    view = scope.values(matrix={"python": "3.12"})
    assert view["stack"] == {"WebUrl": "http://127.0.0.1:1"}
    assert view["matrix"] == {"python": "3.12"}
    assert scope.values()["matrix"] == {}  # a view never leaks into the run's values


def test_a_stage_sees_what_an_earlier_one_published(tmp_path: Path) -> None:
    """Through a real engine: a kind publishes, a later run: stage reads it, a missing one fails."""
    from cdtui.engine.engine import Engine
    from cdtui.engine.events import StageFinished, Status
    from cdtui.engine.plan import make_plan
    from cdtui.runners.local import ProcessResult
    from cdtui.stages import StageContext, StageKind, register, unregister

    class Publishes(StageKind):
        key = "publishes"

        async def run(self, ctx: StageContext) -> ProcessResult:
            ctx.publish("stack", "WebUrl", "http://127.0.0.1:9 /x")
            ctx.started("publish")
            return ProcessResult(Status.SUCCEEDED, 0, "")

    register(Publishes())
    try:
        (tmp_path / "cdtui.yaml").write_text(
            """
project: t
phases:
  - name: P
    stages:
      - {name: a, publishes: {}}
      - {name: b, run: 'printf "%s" ${stack.WebUrl} > out.txt', needs: [a]}
      - {name: c, run: 'echo ${stack.Missing}', needs: [a]}
"""
        )
        pipeline = load_pipeline(tmp_path / "cdtui.yaml")
        engine = Engine(pipeline, make_plan(pipeline), project_dir=tmp_path, run_id=1)
        finished: dict[str, StageFinished] = {}
        engine.bus.subscribe(lambda e: finished.setdefault(e.stage, e), (StageFinished,))
        status = asyncio.run(engine.run())
    finally:
        unregister("publishes")
    assert (tmp_path / "out.txt").read_text() == "http://127.0.0.1:9 /x"
    assert status is Status.FAILED
    assert finished["b"].status is Status.SUCCEEDED
    assert finished["c"].status is Status.FAILED
    assert "${stack.Missing}: stack has no 'Missing'" in finished["c"].reason
