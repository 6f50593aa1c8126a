"""steps: inside a stage, real processes in one workspace: status, duration, log sections,
a failing step ending the stage, continue_on_error, $CDTUI_ENV between steps, tree children."""

from __future__ import annotations

from pathlib import Path

from cdtui.engine.events import Status, StepFinished, StepStarted
from cdtui.ui.app import CdtuiApp
from tests.conftest import pipeline_of
from tests.test_console import main_screen, project, run_status, wait_for
from tests.test_outputs import load_errors

STEPS = [
    {"name": "prepare", "run": 'mkdir -p dist && echo "TOOL=wheelie" >> "$CDTUI_ENV"'},
    {"name": "lint", "run": "echo lint says no; exit 2", "continue_on_error": True},
    {"name": "wheel", "run": 'echo "$TOOL" > dist/tool.txt; echo built'},
    {"name": "check", "run": "echo checking; exit 5"},
    {"name": "upload", "run": "touch uploaded"},
]


async def test_steps_run_in_order_and_a_failing_step_ends_the_stage(make_engine, tmp_path: Path):
    pipeline = pipeline_of({"name": "Build", "stages": [{"name": "build", "steps": STEPS}]})
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert (tmp_path / "dist" / "tool.txt").read_text() == "wheelie\n"  # one workspace, env
    assert not (tmp_path / "uploaded").exists()
    final = events.final("build")
    assert final.status is Status.FAILED and final.exit_code == 5
    assert final.reason == "step 'check': exit code 5"
    finished = {e.step: e for e in events.of(StepFinished)}
    assert [e.step for e in events.of(StepStarted)] == ["prepare", "lint", "wheel", "check"]
    assert [finished[s["name"]].status for s in STEPS] == [
        Status.SUCCEEDED,
        Status.FAILED,  # continue_on_error: the stage went on
        Status.SUCCEEDED,
        Status.FAILED,
        Status.SKIPPED,
    ]
    assert finished["upload"].reason == "step 'check' failed"
    assert all(finished[n].duration > 0 for n in ("prepare", "wheel", "check"))
    log = events.output("build")
    assert log.index("── step 1/5: prepare ──") < log.index("── step 3/5: wheel ──")
    assert "── step check failed in " in log and "lint says no" in log


async def test_steps_all_succeeding_and_outputs_referenced(make_engine, tmp_path: Path):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "version", "run": 'echo "v=2.0" >> "$CDTUI_OUTPUT"'},
                {
                    "name": "build",
                    "needs": ["version"],
                    "steps": [
                        {"name": "a", "run": "echo built ${stages.version.outputs.v} > a.txt"},
                        {"name": "b", "run": ["cp", "a.txt", "b.txt"]},
                    ],
                },
            ],
        }
    )
    engine, _ = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert (tmp_path / "b.txt").read_text() == "built 2.0\n"


def test_step_names_follow_stage_names() -> None:
    from cdtui.config import models, steps

    assert steps.NAME_PATTERN == models.NAME_PATTERN


def test_step_errors_are_located(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - name: b\n        steps:\n          - {name: x, run: 'true'}\n"
        "          - {name: y, rnu: 'true'}\n"
        "      - {name: c, steps: [{name: z, run: 'echo ${stages.nope.outputs.v}'}]}\n",
    )
    assert "cdtui.yaml:8" in text and "did you mean 'run'" in text
    assert "cdtui.yaml:9" in text and "no stage named 'nope'" in text


async def test_the_tree_lists_every_step_before_it_runs_and_those_a_failure_left(
    tmp_path: Path,
):
    text = """\
project: demo
phases:
  - name: Build
    stages:
      - name: build
        steps:
          - {name: wheel, run: "echo wheel"}
          - {name: check, run: "exit 1"}
          - {name: publish, run: "echo never"}
"""
    app = CdtuiApp(project(tmp_path, text))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        screen = main_screen(app)

        def labels() -> list[str]:
            screen.phase_tree.refresh_labels()
            build = screen.phase_tree.root.children[0].children[0]
            return [str(child.label) for child in build.children]

        assert labels() == ["· wheel", "· check", "· publish"]  # the pipeline's, pending
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.FAILED)
        await pilot.pause(0.2)
        shown = labels()
        assert shown[0].startswith("✓ wheel") and shown[1].startswith("✗ check")
        assert shown[2].startswith("○ publish")  # never ran: skipped after the failure


def test_history_rebuilds_the_steps_from_the_store(tmp_path: Path) -> None:
    from cdtui.engine.state import RunState
    from cdtui.store import RunStore
    from tests.test_headless_cli import cdtui, write

    write(
        tmp_path,
        "project: t\nphases:\n  - name: P\n    stages:\n      - name: b\n        steps:\n"
        "          - {name: one, run: 'true'}\n          - {name: two, run: 'exit 7'}\n"
        "          - {name: three, run: 'true'}\n",
    )
    done = cdtui("run", "--headless", ".", cwd=tmp_path)
    assert done.returncode == 1
    assert "── step 2/3: two ──" in done.stdout
    with RunStore(tmp_path) as store:
        state = RunState.from_store(store, 1)
    steps = state.phases["P"].stages["b"].steps
    assert [(s.name, s.status, s.exit_code) for s in steps.values()] == [
        ("one", Status.SUCCEEDED, 0),
        ("two", Status.FAILED, 7),
        ("three", Status.SKIPPED, None),
    ]
    assert steps["two"].duration is not None and steps["two"].duration > 0


async def test_cancel_and_timeout_reach_the_running_step(make_engine, tmp_path: Path):
    import asyncio
    import time

    slow = [{"name": "wait", "run": "touch started; sleep 30"}, {"name": "after", "run": "true"}]
    pipeline = pipeline_of({"name": "P", "stages": [{"name": "s", "steps": slow}]})
    engine, events = make_engine(pipeline)
    running = asyncio.create_task(engine.run())
    for _ in range(500):
        if (tmp_path / "started").exists():
            break
        await asyncio.sleep(0.01)
    began = time.monotonic()
    engine.cancel("cancelled by test")
    assert await running is Status.CANCELLED
    assert time.monotonic() - began < 10
    steps = {e.step: e.status for e in events.of(StepFinished)}
    assert steps == {"wait": Status.CANCELLED, "after": Status.SKIPPED}

    timed = pipeline_of({"name": "P", "stages": [{"name": "t", "timeout": "1s", "steps": slow}]})
    engine, events = make_engine(timed)
    began = time.monotonic()
    assert await engine.run() is Status.FAILED
    assert time.monotonic() - began < 10
    assert events.final("t").status is Status.TIMED_OUT
    assert {e.step: e.status for e in events.of(StepFinished)} == {
        "wait": Status.TIMED_OUT,
        "after": Status.SKIPPED,
    }


def test_steps_and_checkout_are_for_local_stages(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - {name: a, on: web, steps: [{name: x, run: 'true'}]}\n"
        "      - {name: b, on: web, run: 'true', checkout: clean}\n",
    )
    assert "cdtui.yaml:5" in text and "steps: cannot be used with on:" in text
    assert "cdtui.yaml:6" in text and "checkout: cannot be used with on:" in text
