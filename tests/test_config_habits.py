"""Pipeline files written by people coming from GitHub Actions or GitLab CI: each habit that
would pass validation and fail at run time gets a located error with cdtui's way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_config_loader import ENV, errors_of, one_phase, only, project, write

from cdtui.config import load_pipeline
from cdtui.config.errors import close_matches, damerau

__all__ = ["project"]  # the fixture, shared with the loader's tests


# -- run: as a list of shell lines --------------------------------------------------------------


def test_run_as_a_list_of_shell_lines_is_located_with_the_fix(project: Path) -> None:
    path = write(
        one_phase("""
            - name: test
              run:
                - npm ci
                - npm test
        """)
    )
    error = only(errors_of(path), "would be the name of the program")
    assert (error.path, error.line, error.col) == ("phases[0].stages[0].run[0]", 7, 13)
    assert "'npm ci'" in error.message
    assert "run: |" in error.hint and "[npm, ci, ...]" in error.hint


def test_a_shell_line_after_the_program_is_located_at_its_item(project: Path) -> None:
    path = write(one_phase('- {name: a, run: [make, "cd app && make test"]}'))
    error = only(errors_of(path), "looks like a shell command line")
    assert error.path == "phases[0].stages[0].run[1]"
    assert "argument of 'make'" in error.message and "run: |" in error.hint


def test_one_shell_line_in_a_list_gets_no_split_hint(project: Path) -> None:
    path = write(one_phase('- {name: a, run: ["npm ci && npm test"]}'))
    error = only(errors_of(path), "would be the name of the program")
    assert "run: |" in error.hint and "split" not in error.hint


@pytest.mark.parametrize(
    "argv",
    [
        "[pytest, -q, tests]",
        '["python", "-c", "print(1)"]',
        '[python, -c, "import sys; print(sys.argv)"]',
        '[bash, -c, "npm ci && npm test"]',
        '[git, commit, -m, "fix: a > b"]',
        '[jq, ".items | length", data.json]',
        '[awk, "{print $1}", data.txt]',
        '[ssh, web, "cd /app && make"]',
        '["/opt/My Tools/bin/tool", --flag]',
        "[echo, hello world]",
    ],
)
def test_real_argv_lists_still_pass(project: Path, argv: str) -> None:
    stage = load_pipeline(write(one_phase(f"- {{name: a, run: {argv}}}"))).phases[0].stages[0]
    assert isinstance(stage.run, list) and len(stage.run) >= 2


def test_a_colour_deploy_list_of_shell_lines_is_refused_too(project: Path) -> None:
    path = write("""
        project: shop
        phases:
          - name: Release
            release:
              blue: {url: "http://127.0.0.1:9001"}
              green:
                url: "http://127.0.0.1:9002"
                deploy: ["./deploy.sh green", "systemctl restart app"]
    """)
    error = only(errors_of(path), "would be the name of the program")
    assert error.path == "phases[0].release.green.deploy[0]"
    assert "deploy: |" in error.hint


# -- durations need a unit ----------------------------------------------------------------------


def release_file(blue: str = "", health: str = "", release: str = "") -> str:
    """A release phase with one extra entry in the blue colour, the health block or the release."""
    return f"""
project: shop
phases:
  - name: Release
    release:
      blue: {{url: "http://127.0.0.1:9001"{", " + blue if blue else ""}}}
      green: {{url: "http://127.0.0.1:9002"}}
      health: {{path: /health{", " + health if health else ""}}}
      {release}
"""


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (one_phase("- {name: a, run: x, timeout: 10}"), "phases[0].stages[0].timeout"),
        (one_phase("- {name: a, run: x, grace: 5}"), "phases[0].stages[0].grace"),
        (one_phase("- {name: a, run: x, retries: {count: 1, backoff: 2}}"), "backoff"),
        (one_phase("- {name: a, run: x, retries: {count: 1, max_backoff: 9}}"), "max_backoff"),
        ("grace: 10\n" + one_phase("- {name: a, run: x}"), "grace"),
        (release_file(release="hold: 30"), "hold"),
        (release_file(release="keep_warm: 600"), "keep_warm"),
        (release_file(health="interval: 1"), "interval"),
        (release_file(health="timeout: 2"), "timeout"),
        (release_file(blue="deploy_timeout: 600"), "deploy_timeout"),
    ],
)
def test_every_duration_without_a_unit_is_a_located_error(
    project: Path, text: str, path: str
) -> None:
    error = only(errors_of(write(text)), "has no unit")
    assert error.path.endswith(path) and error.line > 0
    assert "s for seconds" in error.message and "m for minutes" in error.message


def test_timeout_10_names_both_readings(project: Path) -> None:
    error = only(errors_of(write(one_phase("- {name: a, run: x, timeout: 10}"))), "no unit")
    assert error.message == (
        "the duration 10 has no unit: write 10s for seconds or 10m for minutes (units: ms, s, m, h)"
    )
    assert (error.line, error.col) == (5, 36)


def test_zero_and_durations_with_units_load(project: Path) -> None:
    text = one_phase(
        "- {name: a, run: x, timeout: 1m30s, grace: 0, retries: {count: 1, backoff: 0}}"
    )
    stage = load_pipeline(write(text)).phases[0].stages[0]
    assert (stage.timeout, stage.grace, stage.retries.backoff) == (90.0, 0.0, 0.0)


def test_a_json_pipeline_file_may_give_plain_seconds(project: Path) -> None:
    """Scripts write JSON; a number there is seconds, as it always was."""
    stage = {"name": "a", "run": "x", "timeout": 10, "retries": {"count": 1, "backoff": 0.5}}
    path = write(json.dumps({"project": "shop", "phases": [{"name": "B", "stages": [stage]}]}))
    loaded = load_pipeline(path).phases[0].stages[0]
    assert (loaded.timeout, loaded.retries.backoff) == (10.0, 0.5)


# -- ${{ }} expressions --------------------------------------------------------------------------


def test_matrix_expression_is_named_as_github_actions_syntax(project: Path) -> None:
    error = only(errors_of(write(one_phase('- {name: a, run: "tox -e ${{ matrix.py }}"}'))), "${{")
    assert error.path == "phases[0].stages[0].run" and error.line == 5
    assert "GitHub Actions" in error.message and "'${{ matrix.py }}'" in error.message
    assert "no matrix" in error.hint


def test_secrets_expression_points_at_the_environment_variable_way(project: Path) -> None:
    text = one_phase("""
        - name: deploy
          run: ./deploy.sh
          env: {TOKEN: "${{ secrets.DEPLOY_TOKEN }}"}
    """)
    error = only(errors_of(write(text)), "GitHub Actions")
    assert error.path == "phases[0].stages[0].env.TOKEN"
    assert "$DEPLOY_TOKEN" in error.hint and "{DEPLOY_TOKEN: {env: DEPLOY_TOKEN}}" in error.hint


def test_a_shell_variable_in_braces_is_not_an_expression(project: Path) -> None:
    text = one_phase('- {name: a, run: "echo ${HOME} ${X:-{}}"}')
    assert load_pipeline(write(text)).phases[0].stages[0].run == "echo ${HOME} ${X:-{}}"


# -- another tool's keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        ("working-directory: app", "(cdtui's key is 'cwd')", "cwd: app"),
        ("timeout-minutes: 10", "(cdtui's key is 'timeout')", "timeout: 10m"),
        (
            "continue-on-error: true",
            "(cdtui's key is 'continue_on_error')",
            "continue_on_error: true",
        ),
        ("runs-on: ubuntu-latest", "(cdtui has no such key)", "on: names hosts"),
        ("keep-children: true", "(did you mean 'keep_children'?)", ""),
    ],
)
def test_other_ci_tools_keys_get_cdtui_words(
    project: Path, line: str, message: str, hint: str
) -> None:
    key = line.split(":")[0]
    error = only(errors_of(write(one_phase(f"- name: a\n  run: x\n  {line}"))), f"'{key}'")
    assert error.message == f"unknown key {key!r} {message}"
    assert hint in error.hint and (error.line, error.col) == (7, 9)


# -- did-you-mean -------------------------------------------------------------------------------


def test_a_transposition_is_one_edit_and_ranks_first(project: Path) -> None:
    assert damerau("lnit", "lint") == 1 and damerau("lnit", "unit") == 1
    assert damerau("abc", "abc") == 0 and damerau("", "abc") == 3
    text = one_phase("""
        - {name: unit, run: x}
        - {name: lint, run: x}
        - {name: e2e, run: x, needs: [lnit]}
    """)
    error = only(errors_of(write(text)), "unknown stage")
    assert error.message == "unknown stage 'lnit' (did you mean 'lint' or 'unit'?)"


def test_did_you_mean_lists_at_most_three_closest_first() -> None:
    near = ["deploys", "zebra", "deply", "deploy", "deplo"]
    assert close_matches("deplyo", near) == ["deploy", "deply", "deplo"]
    assert close_matches("deploy", ["lint", "unit"]) == []
    assert close_matches("Build", ["build", "guild"]) == ["build", "guild"]


def test_unknown_key_lists_several_candidates(project: Path) -> None:
    error = only(errors_of(write(one_phase("- {name: a, run: x, en: {}}"))), "'en'")
    assert error.message == "unknown key 'en' (did you mean 'env' or 'on'?)"


def test_a_need_in_an_earlier_phase_is_implied(project: Path) -> None:
    text = """
        project: shop
        phases:
          - {name: Commit, stages: [{name: build, run: x}]}
          - {name: Test, stages: [{name: e2e, run: x, needs: [build]}]}
    """
    error = only(errors_of(write(text), environ=ENV), "earlier phase")
    assert error.path == "phases[1].stages[0].needs[0]" and "implied" in error.hint
