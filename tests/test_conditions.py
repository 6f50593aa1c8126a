"""``when:`` and ``if:``: a safe grammar parsed at load time, decided against real git and env."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cdtui.config.conditions import ConditionError, Context, glob_regex, parse
from cdtui.engine.changes import changed_files
from cdtui.engine.engine import Engine
from cdtui.engine.events import StageFinished, Status
from cdtui.engine.plan import make_plan
from tests.conftest import Recorder, pipeline_of
from tests.test_outputs import load_errors


def holds(text: str, **context) -> bool:
    return parse(text).holds(Context(**context))


def test_the_grammar_compares_combines_and_negates() -> None:
    assert holds('branch == "main"', branch="main")
    assert not holds('branch == "main"', branch="dev")
    assert holds("branch != 'main' && env.CI == \"1\"", branch="dev", env={"CI": "1"})
    assert holds('not (branch == "main") or env.X', branch="main", env={"X": "yes"})
    assert not holds("!env.X", env={"X": "1"})
    assert holds("env.MISSING == ''")
    assert holds('matrix.python == "3.12" and true', matrix={"python": "3.12"})
    assert holds('changed("src/**", "docs/*")', changed=lambda globs: globs == ("src/**", "docs/*"))
    assert holds('"a\\"b" == \'a"b\'')


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('branch == "main" )', "unexpected ')' at column 18"),
        ("branch ==", "expected a value at column 10, found the end"),
        ('brnch == "main"', "unknown name 'brnch' at column 1; did you mean 'branch'?"),
        ("changed(src)", "expected a glob like \"src/**\" at column 9, found 'src'"),
        ('(branch == "x"', "expected ')' at column 15"),
        ("env == 1", "unexpected '1' at column 8"),
        ("__import__('os')", "unknown name '__import__'"),
        ("branch == main", "unknown name 'main' at column 11; a string? quote it: \"main\""),
        ("env.X != yes", "unknown name 'yes' at column 10; a string? quote it: \"yes\""),
        ("${{ github.ref == 'main' }}", "write the expression bare"),
    ],
)
def test_bad_expressions_say_where(text: str, said: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert said in str(caught.value)


def test_globs() -> None:
    assert glob_regex("src/**").match("src/a/b.py")
    assert not glob_regex("src/*.py").match("src/a/b.py")
    assert glob_regex("**/*.md").match("README.md") and glob_regex("**/*.md").match("d/x.md")
    assert glob_regex("docs/").match("docs/x/y")


def test_an_invalid_if_is_a_located_error(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - {name: a, run: 'true', if: 'branch = \"main\"'}\n"
        "      - {name: b, run: 'true', if: 'matrix.python == \"3\"'}\n",
    )
    assert "cdtui.yaml:5" in text and "unexpected '='" in text and "column 8" in text
    assert "cdtui.yaml:6" in text and "matrix.python is not an axis" in text


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "docs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "docs" / "index.md").write_text("one\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    (tmp_path / "src" / "app.py").write_text("print(1)\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "second")
    return tmp_path


def test_changed_compares_head_with_the_previous_commit_plus_the_tree(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    assert changed_files(repo, {}) == ["src/app.py"]
    (repo / "notes.txt").write_text("untracked\n")
    assert changed_files(repo, {}) == ["notes.txt", "src/app.py"]
    first = subprocess.run(
        ["git", "rev-parse", "HEAD~1"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert changed_files(repo, {"CDTUI_CHANGED_BASE": first}) == ["notes.txt", "src/app.py"]
    assert changed_files(repo / "src", {}) == ["app.py"]  # relative to the project dir
    assert changed_files(repo, {"CDTUI_CHANGED_BASE": "origin/gone"}) is None  # cannot tell


async def test_conditions_decide_with_real_git_and_env(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "on-main", "run": "touch on-main", "if": 'branch == "main"'},
                {"name": "on-dev", "run": "touch on-dev", "if": 'branch == "dev"'},
                {"name": "src", "run": "touch src-ran", "if": 'changed("src/**")'},
                {"name": "docs", "run": "touch docs-ran", "if": 'changed("docs/**")'},
                {"name": "flag", "run": "touch flag-ran", "if": 'env.SHOP_FLAG == "1"'},
                {"name": "bad", "run": "exit 4", "needs": ["on-main"]},
                {"name": "cleanup", "run": "touch cleanup-ran", "when": "on_failure"},
                {"name": "report", "run": "touch report-ran", "needs": ["bad"], "when": "always"},
                {"name": "ok-only", "run": "touch never", "needs": ["bad"]},
            ],
        },
        {
            "name": "After",
            "stages": [
                {"name": "normal", "run": "touch never2"},
                {"name": "notify", "run": "touch notify-ran", "when": "on_failure"},
            ],
        },
        {  # behind a gate: nothing runs for a failed run, not even on_failure
            "name": "Gated",
            "gate": "confirm",
            "stages": [{"name": "gated", "run": "touch never3", "when": "on_failure"}],
        },
    )
    engine = Engine(
        pipeline,
        make_plan(pipeline),
        project_dir=repo,
        run_id=1,
        environ={"PATH": "/usr/bin:/bin", "SHOP_FLAG": "1"},
    )
    events = Recorder()
    engine.subscribe(events)
    assert await engine.run() is Status.FAILED
    ran = {p.name for p in repo.iterdir() if p.name.endswith("-ran") or p.name.startswith("on-")}
    assert ran == {"on-main", "src-ran", "flag-ran", "cleanup-ran", "report-ran", "notify-ran"}
    assert not any((repo / n).exists() for n in ("never", "never2", "never3"))
    final = {e.stage: e for e in events.of(StageFinished)}
    assert final["on-dev"].status is Status.SKIPPED
    assert final["on-dev"].reason == 'if: branch == "dev" is false'
    assert final["docs"].reason == 'if: changed("docs/**") is false'
    assert final["normal"].reason == "an earlier phase failed"


def test_dry_run_says_when_and_if(tmp_path: Path) -> None:
    from tests.test_headless_cli import cdtui, write
    from tests.test_outputs import ONE_PHASE

    write(
        tmp_path,
        ONE_PHASE + "      - {name: a, run: 'true', if: 'branch == \"main\"', lock: db}\n"
        "      - {name: b, run: 'true', when: on_failure}\n",
    )
    done = cdtui("run", "--dry-run", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'if: branch == "main"' in done.stdout and "lock db" in done.stdout
    assert done.stdout.index("step 2:") < done.stdout.index("when: on_failure")  # after a
