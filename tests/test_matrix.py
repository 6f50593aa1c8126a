"""matrix: legs as real stages (names, values, env), exclude/include, fail_fast, max_parallel,
and a matrix read from an earlier stage's JSON output, announced to the tree by an event."""

from __future__ import annotations

import time
from pathlib import Path

from cdtui.config.matrix import legs, parse_spec
from cdtui.engine.events import StagesExpanded, StageStarted, Status
from cdtui.engine.plan import make_plan
from cdtui.engine.state import RunState
from tests.conftest import pipeline_of
from tests.test_headless_cli import cdtui, write
from tests.test_outputs import ONE_PHASE, load_errors

RECORD = 'echo "${matrix.python} $CDTUI_MATRIX_PYTHON ${matrix.db} $CDTUI_STAGE" >> legs.txt'


def test_include_and_exclude_follow_github() -> None:
    spec = parse_spec(
        {
            "os": ["linux", "mac"],
            "py": ["3.11", "3.12"],
            "exclude": [{"os": "mac", "py": "3.11"}],
            "include": [{"os": "linux", "py": "3.12", "extra": "cov"}, {"os": "win", "py": "3.13"}],
        }
    )
    assert legs(spec) == [
        {"os": "linux", "py": "3.11"},
        {"os": "linux", "py": "3.12", "extra": "cov"},
        {"os": "mac", "py": "3.12"},
        {"os": "win", "py": "3.13"},
    ]


def test_include_matches_githubs_documented_example() -> None:
    """The example of GitHub's docs ("Expanding or adding matrix configurations"), verbatim."""
    spec = parse_spec(
        {
            "fruit": ["apple", "pear"],
            "animal": ["cat", "dog"],
            "include": [
                {"color": "green"},
                {"color": "pink", "animal": "cat"},  # overwrites an added value, not an axis'
                {"fruit": "apple", "shape": "circle"},
                {"fruit": "banana"},
                {"fruit": "banana", "animal": "cat"},  # a leg of its own: never extends the last
            ],
        }
    )
    assert legs(spec) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_a_matrix_of_includes_only_has_a_leg_for_each() -> None:
    """pallets/markupsafe's shape: no axes, one include per leg, two on the same Python."""
    spec = parse_spec({"include": [{"python": "3.13"}, {"python": "3.13", "name": "pure"}]})
    assert legs(spec) == [{"python": "3.13"}, {"python": "3.13", "name": "pure"}]


async def test_a_3x2_matrix_with_an_exclude_runs_5_legs_each_with_its_values(
    make_engine, tmp_path: Path
):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "test",
                    "run": RECORD,
                    "matrix": {
                        "python": ["3.11", "3.12", "3.13"],
                        "db": ["sqlite", "postgres"],
                        "exclude": [{"python": "3.11", "db": "postgres"}],
                    },
                },
                {"name": "after", "run": "wc -l < legs.txt > count.txt", "needs": ["test"]},
            ],
        }
    )
    names = [s.name for s in pipeline.phases[0].stages]
    assert names[:2] == ["test[python=3.11,db=sqlite]", "test[python=3.12,db=sqlite]"]
    assert len(names) == 6
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    lines = sorted((tmp_path / "legs.txt").read_text().splitlines())
    assert len(lines) == 5
    assert "3.13 3.13 postgres test[python=3.13,db=postgres]" in lines
    assert not any(line.startswith("3.11 3.11 postgres") for line in lines)
    assert (tmp_path / "count.txt").read_text().strip() == "5"  # after ran after every leg
    assert len({e.stage for e in events.of(StageStarted)}) == 6


async def test_fail_fast_cancels_running_legs_and_skips_the_rest(make_engine, tmp_path: Path):
    run = 'if [ "${matrix.n}" = 1 ]; then exit 3; fi; touch "started-${matrix.n}"; sleep 20'
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": "t", "run": run, "matrix": {"n": list("123456")}}]}
    )
    engine, events = make_engine(pipeline, jobs=2)
    began = time.monotonic()
    assert await engine.run() is Status.FAILED
    assert time.monotonic() - began < 10  # no leg's sleep 20 was waited for
    statuses = {n: events.final(f"t[n={n}]").status for n in "123456"}
    assert statuses["1"] is Status.FAILED
    assert statuses["2"] is Status.CANCELLED  # it was running: ended, not waited for
    assert set(statuses.values()) <= {Status.FAILED, Status.CANCELLED, Status.SKIPPED}
    assert statuses["6"] is Status.SKIPPED
    assert events.final("t[n=6]").reason == "fail_fast: another leg of 't' failed"


async def test_without_fail_fast_and_with_max_parallel(make_engine, tmp_path: Path):
    (tmp_path / "live").mkdir()
    run = (
        "touch live/${matrix.n}; ls live | wc -l >> peak.txt; sleep 0.3; rm live/${matrix.n}; "
        '[ "${matrix.n}" != 2 ]'
    )
    matrix = {"n": ["1", "2", "3", "4", "5"], "fail_fast": False, "max_parallel": 2}
    pipeline = pipeline_of({"name": "P", "stages": [{"name": "t", "run": run, "matrix": matrix}]})
    engine, events = make_engine(pipeline, jobs=5)
    assert await engine.run() is Status.FAILED
    assert [events.final(f"t[n={n}]").status for n in "12345"] == [
        Status.SUCCEEDED,
        Status.FAILED,
        Status.SUCCEEDED,
        Status.SUCCEEDED,
        Status.SUCCEEDED,
    ]
    peaks = [int(x) for x in (tmp_path / "peak.txt").read_text().split()]
    assert max(peaks) == 2


async def test_a_matrix_read_from_an_earlier_stage_s_json_output(make_engine, tmp_path: Path):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "plan", "run": """echo 'pythons=["3.11", "3.12"]' >> "$CDTUI_OUTPUT" """},
                {
                    "name": "test",
                    "needs": ["plan"],
                    "matrix": {"python": "${stages.plan.outputs.pythons}", "db": ["sqlite"]},
                    "run": RECORD,
                },
                {"name": "after", "needs": ["test"], "run": "cat legs.txt | wc -l > n.txt"},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    state = RunState.skeleton(pipeline, make_plan(pipeline))
    engine.subscribe(state.apply)
    assert await engine.run() is Status.SUCCEEDED
    expanded = events.of(StagesExpanded)
    assert [e.legs for e in expanded] == [
        ("test[python=3.11,db=sqlite]", "test[python=3.12,db=sqlite]")
    ]
    assert (tmp_path / "n.txt").read_text().strip() == "2"
    tree = list(state.phases["P"].stages)
    assert tree == ["plan", "test[python=3.11,db=sqlite]", "test[python=3.12,db=sqlite]", "after"]
    assert all(st.status is Status.SUCCEEDED for st in state.phases["P"].stages.values())


async def test_a_dynamic_matrix_that_is_not_json_fails_the_stage(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "plan", "run": 'echo "list=not json" >> "$CDTUI_OUTPUT"'},
                {
                    "name": "test",
                    "needs": ["plan"],
                    "matrix": {"x": "${stages.plan.outputs.list}"},
                    "run": "true",
                },
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert "is not JSON" in events.final("test").reason


def test_matrix_errors_are_located(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - {name: a, run: 'echo ${matrix.pyton}', matrix: {python: ['3.12']}}\n"
        "      - {name: b, run: 'true', matrix: {python: []}}\n"
        "      - {name: c, run: 'echo ${matrix.x}'}\n",
    )
    assert "cdtui.yaml:5" in text and "did you mean 'python'" in text
    assert "cdtui.yaml:6" in text and "non-empty list" in text
    assert "cdtui.yaml:7" in text and "has no matrix" in text


def test_headless_run_shows_legs_and_stage_selects_them_all(tmp_path: Path) -> None:
    write(
        tmp_path,
        ONE_PHASE
        + """\
      - {name: lint, run: 'true'}
      - name: test
        run: 'echo "py=${matrix.py}"'
        matrix: {py: ["3.11", "3.12"]}
""",
    )
    done = cdtui("run", "--headless", "--stage", "test", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "py=3.11" in done.stdout and "py=3.12" in done.stdout
    assert "test[py=3.12]" in done.stdout and "lint" not in done.stdout


def test_a_dynamic_matrix_in_a_headless_run(tmp_path: Path) -> None:
    write(
        tmp_path,
        ONE_PHASE
        + """\
      - {name: plan, run: "echo 'dbs=[\\"a\\", \\"b\\"]' >> $CDTUI_OUTPUT"}
      - name: test
        needs: [plan]
        matrix: {db: "${stages.plan.outputs.dbs}"}
        run: 'echo db=${matrix.db}'
""",
    )
    done = cdtui("run", "--headless", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matrix test: 2 legs (test[db=a], test[db=b])" in done.stdout
    assert "db=a" in done.stdout and "db=b" in done.stdout


async def test_the_console_tree_shows_the_legs_of_a_dynamic_matrix(tmp_path: Path):
    from cdtui.ui.app import CdtuiApp
    from tests.test_console import main_screen, project, run_status, wait_for

    text = """\
project: t
phases:
  - name: P
    stages:
      - {name: plan, run: "echo 'n=[1, 2]' >> $CDTUI_OUTPUT"}
      - {name: test, needs: [plan], matrix: {n: "${stages.plan.outputs.n}"}, run: 'true'}
      - {name: after, needs: [test], run: 'true'}
"""
    app = CdtuiApp(project(tmp_path, text))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tree = main_screen(app).phase_tree
        names = [str(n.label) for n in tree.root.children[0].children]
        assert any("test" in n for n in names) and len(names) == 3  # before: the matrix
        await pilot.press("r")
        await wait_for(pilot, lambda: run_status(app) is Status.SUCCEEDED)
        tree.refresh_labels()
        await pilot.pause()
        names = [str(n.label).split()[1] for n in tree.root.children[0].children]
        assert names == ["plan", "test[n=1]", "test[n=2]", "after"]


def test_the_summary_names_each_leg_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    """80 columns (CI logs) and a failing leg's long reason: the table still says which leg."""
    write(
        tmp_path,
        ONE_PHASE
        + """\
      - name: tests
        run: 'test "${matrix.python}" != 3.13 || { echo "a long line of why it failed"; exit 3; }'
        matrix: {python: ["3.12", "3.13"]}
""",
    )
    done = cdtui("run", "--headless", ".", cwd=tmp_path, env={"COLUMNS": "80"})
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout[done.stdout.index("Summary") :]
    rows = [line for line in summary.splitlines() if "tests[python=" in line]
    assert any("tests[python=3.13]" in r and "FAILED" in r for r in rows), summary
    assert any("tests[python=3.12]" in r and "SUCCEEDED" in r for r in rows), summary


async def test_each_leg_keeps_its_own_file_of_a_shared_workspace(make_engine, tmp_path: Path):
    """``${matrix.AXIS}`` in an artifact path, as GitHub's ``.coverage.${{ matrix.python }}``:
    without it both legs match both files (a named artifact then fails) or neither file."""
    from cdtui.engine.events import ArtifactStored

    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "t",
                    "run": "mkdir -p out && echo ${matrix.py} > out/cov-${matrix.py}.txt",
                    "matrix": {"py": ["a", "b"]},
                    "artifacts": {"cov": "out/cov-${matrix.py}.txt"},
                },
                {  # the fan-in: every leg's copy, as coverage combine wants them
                    "name": "combine",
                    "needs": ["t"],
                    "run": "rm -r out && cat ${artifacts.cov.dir}/* > all.txt",
                },
            ],
        }
    )
    engine, events = make_engine(pipeline, jobs=1)
    assert await engine.run() is Status.SUCCEEDED
    kept = {e.stage: e.path for e in events.of(ArtifactStored)}
    assert kept == {"t[py=a]": "out/cov-a.txt", "t[py=b]": "out/cov-b.txt"}
    assert (tmp_path / "all.txt").read_text().split() == ["a", "b"]


def test_an_artifact_path_naming_no_axis_is_a_located_error(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - name: t\n"
        "        matrix: {py: [a]}\n"
        "        run: 'true'\n"
        "        artifacts: [{path: 'out/${matrix.pyy}.txt', optional: true}]\n",
    )
    assert "artifacts[0].path: ${matrix.pyy}: no axis 'pyy' (did you mean 'py'?)" in text, text
