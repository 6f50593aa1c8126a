"""The pipeline loader: every problem located at its line, all at once, never a traceback."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from cdtui.config import (
    ConfigError,
    LocatedError,
    find_pipeline_file,
    format_errors,
    load_pipeline,
    resolve_secrets,
)
from cdtui.config.loader import MAX_BYTES

DATA = Path(__file__).parent / "data" / "config"
SECRET = "correct-horse-battery"
ENV = {"SHOP_DB_PASSWORD": SECRET}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs in the project directory so errors read ``cdtui.yaml:LINE:COL: ...``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "cdtui.yaml") -> Path:
    path = Path(name)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def errors_of(path: Path, **options: object) -> list[LocatedError]:
    options.setdefault("environ", ENV)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, **options)  # type: ignore[arg-type]
    assert caught.value.errors
    return caught.value.errors


def only(errors: list[LocatedError], fragment: str) -> LocatedError:
    found = [e for e in errors if fragment in e.message]
    assert len(found) == 1, format_errors(errors)
    return found[0]


def one_phase(stages: str) -> str:
    return "project: shop\nphases:\n  - name: Build\n    stages:\n" + textwrap.indent(
        textwrap.dedent(stages).strip("\n"), "      "
    )


# -- a good file ---------------------------------------------------------------------------------


def test_valid_file_loads_with_durations_and_shorthands() -> None:
    pipeline = load_pipeline(DATA / "valid.yaml", environ=ENV)
    assert [p.name for p in pipeline.phases] == ["Commit", "Acceptance", "Release"]
    unit = pipeline.phases[0].stages[0]
    assert unit.timeout == 600.0
    assert unit.retries.count == 2
    assert pipeline.phases[1].stages[1].retries.backoff == 0.5
    assert pipeline.hosts["staging-1"].port == 2222


def test_retries_shorthand_and_mapping(project: Path) -> None:
    path = write(
        one_phase("""
            - {name: a, run: x, retries: 3}
            - {name: b, run: x, retries: {count: 1, backoff: 2s}}
            - {name: c, run: x}
        """)
    )
    stages = load_pipeline(path).phases[0].stages
    assert [s.retries.count for s in stages] == [3, 1, 0]
    assert stages[1].retries.backoff == 2.0


def test_bad_retries_shorthand_is_located(project: Path) -> None:
    path = write(one_phase("- {name: a, run: x, retries: -1}"))
    error = only(errors_of(path), ">= 0")
    assert error.path == "phases[0].stages[0].retries"
    assert (error.line, error.col) == (5, 36)


def test_merge_keys_and_anchors_are_plain_yaml(project: Path) -> None:
    path = write(
        one_phase("""
            - &base {name: a, run: make, retries: 2}
            - {<<: *base, name: b, timeout: 5s}
        """)
    )
    b = load_pipeline(path).phases[0].stages[1]
    assert (b.name, b.run, b.retries.count, b.timeout) == ("b", "make", 2, 5.0)


def test_on_and_yes_keys_are_words_not_booleans(project: Path) -> None:
    path = write(
        "project: shop\nenv: {on: x, yes: y}\nphases: [{name: A, stages: [{name: a, run: x}]}]"
    )
    assert load_pipeline(path).env == {"on": "x", "yes": "y"}


# -- unknown keys, types, shapes -----------------------------------------------------------------


def test_typoed_key_gets_did_you_mean_at_the_key(project: Path) -> None:
    path = write(
        one_phase("""
            - {name: build, run: make}
            - name: test
              run: make test
              neds: [build]
        """)
    )
    error = only(errors_of(path), "neds")
    assert (
        str(error)
        == "cdtui.yaml:8:9: phases[0].stages[1].neds: unknown key 'neds' (did you mean 'needs'?)"
    )


def test_unknown_key_without_close_match_lists_known_keys(project: Path) -> None:
    path = write("project: shop\nzebra: 1\nphases: [{name: A, stages: [{name: a, run: x}]}]\n")
    error = only(errors_of(path), "zebra")
    assert (error.line, error.col) == (2, 1)
    assert "phases" in error.hint and "project" in error.hint


def test_missing_required_key_is_located_at_the_mapping_that_lacks_it(project: Path) -> None:
    path = write(one_phase("- name: build\n  cwd: src"))
    error = only(errors_of(path), "missing required key 'run'")
    assert error.path == "phases[0].stages[0].run"
    assert (error.line, error.col) == (5, 9)


def test_bad_duration_says_what_is_expected(project: Path) -> None:
    path = write(one_phase("- {name: a, run: x, timeout: 10 parsecs}"))
    error = only(errors_of(path), "duration")
    assert error.path == "phases[0].stages[0].timeout"
    assert "10s" in error.message and "10 parsecs" in error.message
    assert error.line == 5


def test_needs_as_a_string_expects_a_list_of_stage_names(project: Path) -> None:
    path = write(one_phase("- {name: a, run: x}\n- {name: b, run: x, needs: a}"))
    error = only(errors_of(path), "expected")
    assert error.message == "expected a list of stage names, got the text 'a'"


def test_run_union_reports_once_for_a_wrong_kind(project: Path) -> None:
    path = write(one_phase("- {name: a, run: 5}"))
    errors = errors_of(path)
    assert [e.message for e in errors] == [
        "expected a command string or a list of argument strings, got the number 5"
    ]


def test_run_union_reports_the_list_items_for_a_list(project: Path) -> None:
    path = write(one_phase("- {name: a, run: [1, ok]}"))
    assert [e.path for e in errors_of(path)] == ["phases[0].stages[0].run[0]"]


def test_yaml_boolean_where_text_belongs_hints_to_quote(project: Path) -> None:
    path = write(one_phase("- {name: no, run: x}"))
    error = only(errors_of(path), "expected text")
    assert 'quote it: "no"' in error.hint


def test_non_string_key_is_an_error(project: Path) -> None:
    path = write("project: shop\n1: x\nphases: [{name: A, stages: [{name: a, run: x}]}]\n")
    error = only(errors_of(path), "not text")
    assert (error.line, error.col) == (2, 1)


def test_all_errors_are_reported_together(project: Path) -> None:
    path = write(
        one_phase("""
            - {name: build, run: make, timout: 5s}
            - {name: test, run: make test, needs: [biuld]}
            - {name: test, run: again}
        """)
    )
    messages = [e.message for e in errors_of(path)]
    assert len(messages) == 3, messages
    assert any("timout" in m for m in messages)
    assert any("biuld" in m for m in messages)
    assert any("duplicate stage name" in m for m in messages)


# -- cross-field checks --------------------------------------------------------------------------


def test_unknown_need_with_did_you_mean(project: Path) -> None:
    path = write(one_phase("- {name: build, run: make}\n- {name: test, run: x, needs: [biuld]}"))
    error = only(errors_of(path), "biuld")
    assert str(error) == (
        "cdtui.yaml:6:38: phases[0].stages[1].needs[0]: "
        "unknown stage 'biuld' (did you mean 'build'?)"
    )


def test_need_of_an_earlier_phase_says_it_is_implied(project: Path) -> None:
    path = write("""
        project: shop
        phases:
          - name: Commit
            stages: [{name: unit, run: x}]
          - name: Acceptance
            stages:
              - {name: bdd, run: x, needs: [unit]}
    """)
    error = only(errors_of(path), "'unit'")
    assert error.path == "phases[1].stages[0].needs[0]"
    assert "earlier phase 'Commit'" in error.message
    assert "implied" in error.hint and "drop it" in error.hint


def test_need_of_a_later_phase_says_it_runs_later(project: Path) -> None:
    path = write("""
        project: shop
        phases:
          - name: Commit
            stages: [{name: unit, run: x, needs: [deploy]}]
          - name: Release
            stages: [{name: deploy, run: x}]
    """)
    assert "later phase 'Release'" in only(errors_of(path), "deploy").message


def test_stage_needing_itself(project: Path) -> None:
    path = write(one_phase("- {name: a, run: x, needs: [a]}"))
    assert only(errors_of(path), "itself").path == "phases[0].stages[0].needs[0]"


def test_needs_cycle_is_reported_once_with_members_in_order(project: Path) -> None:
    path = write(
        one_phase("""
            - {name: a, run: x, needs: [b]}
            - {name: b, run: x, needs: [c]}
            - {name: c, run: x, needs: [a]}
            - {name: d, run: x, needs: [a]}
        """)
    )
    errors = errors_of(path)
    assert [e.message for e in errors] == ["needs cycle: a -> b -> c -> a"]
    assert errors[0].path == "phases[0].stages[0].needs[0]"


def test_duplicate_phase_names(project: Path) -> None:
    path = write("""
        project: shop
        phases:
          - {name: A, stages: [{name: a, run: x}]}
          - {name: A, stages: [{name: b, run: x}]}
    """)
    error = only(errors_of(path), "duplicate phase name 'A'")
    assert error.line == 4 and "line 3" in error.hint


# -- secrets -------------------------------------------------------------------------------------

SECRETS_FILE = """
    project: shop
    secrets:
      DB: {env: SHOP_DB}
      OPTIONAL: {env: SHOP_MAYBE, optional: true}
    phases: [{name: A, stages: [{name: a, run: x}]}]
"""


def test_missing_secret_env_is_located(project: Path) -> None:
    error = only(errors_of(write(SECRETS_FILE), environ={}), "SHOP_DB")
    assert error.path == "secrets.DB.env"
    assert error.line == 3
    assert "optional" in error.hint


def test_short_secret_is_refused_without_printing_it(project: Path) -> None:
    errors = errors_of(write(SECRETS_FILE), environ={"SHOP_DB": "hunter2"})
    error = only(errors, "shorter than 8")
    assert "hunter2" not in format_errors(errors)
    assert error.path == "secrets.DB.env"


def test_secrets_unchecked_when_asked_and_resolved_later(project: Path) -> None:
    pipeline = load_pipeline(write(SECRETS_FILE), environ={}, check_secrets=False)
    assert resolve_secrets(pipeline, {"SHOP_DB": SECRET}) == {"DB": SECRET}
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(pipeline, {"SHOP_DB": "zqzqz", "SHOP_MAYBE": "qxq"})
    assert len(caught.value.errors) == 2
    assert "zqzqz" not in str(caught.value) and "qxq" not in str(caught.value)


# -- YAML safety and the shape of the file -------------------------------------------------------


def test_duplicate_keys(project: Path) -> None:
    path = write(one_phase("- name: a\n  run: x\n  run: y"))
    error = only(errors_of(path), "duplicate key 'run'")
    assert (error.line, error.col) == (7, 9)
    assert "line 6" in error.hint


def test_python_tag_is_refused_and_never_run(project: Path) -> None:
    marker = project / "pwned"
    path = write(f'project: !!python/object/apply:os.system ["touch {marker}"]\nphases: []\n')
    error = only(errors_of(path), "unsupported tag")
    assert "!!python/object/apply:os.system" in error.message
    assert (error.line, error.col) == (1, 10)
    assert not marker.exists()


def test_custom_tag_is_refused(project: Path) -> None:
    path = write(one_phase("- {name: a, run: !shell x}"))
    assert only(errors_of(path), "unsupported tag").path == "phases[0].stages[0].run"


def test_alias_bomb_stops_fast_with_a_clear_error(project: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = write("\n".join(lines) + "\n")
    started = time.perf_counter()
    error = only(errors_of(path), "expands to more than")
    assert time.perf_counter() - started < 10  # ~0.06 s; expanding 9**10 nodes would not end
    assert "aliases" in error.hint and error.line >= 1


def test_recursive_alias_is_an_error(project: Path) -> None:
    path = write("project: &a [x, *a]\nphases: []\n")
    assert only(errors_of(path), "contains it").path == "project[1]"


def test_deep_nesting_is_bounded_and_fast(project: Path) -> None:
    path = write("project: x\nphases: " + "[" * 100_000 + "]" * 100_000 + "\n")
    started = time.perf_counter()
    error = only(errors_of(path), "nested more than")
    assert time.perf_counter() - started < 10  # a few ms; quadratic on 100,000 levels: hours
    assert error.line == 2


def test_size_bound(project: Path) -> None:
    path = write("project: x\n" + "#" * MAX_BYTES + "\n")
    error = only(errors_of(path), "larger than")
    assert (error.line, error.col) == (0, 0)


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("project: shop\nphases:\n  - name: [A\n", 4, 1, "expected ',' or ']'"),
        ("project: shop\nphases: a: b\n", 2, 10, "mapping values are not allowed"),
        ("project: shop\nphases:\n\t- name: x\n", 3, 1, "cannot start any token"),
        ("project: a\n---\nproject: b\n", 2, 1, "another document"),
    ],
)
def test_syntax_error_location(
    project: Path, text: str, line: int, col: int, fragment: str
) -> None:
    error = only(errors_of(write(text)), "YAML syntax error")
    assert (error.line, error.col) == (line, col)
    assert fragment in error.message


def test_tab_indentation_hint(project: Path) -> None:
    error = errors_of(write("project: shop\nphases:\n\t- name: x\n"))[0]
    assert "tabs" in error.hint


def test_invalid_utf8_is_located(project: Path) -> None:
    path = Path("cdtui.yaml")
    path.write_bytes(b"\xef\xbb\xbfproject: shop\nphases: \xff\n")
    error = only(errors_of(path), "UTF-8")
    assert (error.line, error.col) == (2, 9)
    assert "0xff" in error.message


def test_control_character_is_located(project: Path) -> None:
    error = only(errors_of(write("project: caf\u00e9\x07\nphases: []\n")), "U+0007")
    assert (error.line, error.col) == (1, 14)


@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        ("", "empty", 0),
        ("# only a comment\n", "only comments", 0),
        ("- a\n- b\n", "got a list", 1),
        ("hello\n", "got the text 'hello'", 1),
    ],
)
def test_file_that_is_not_a_mapping(project: Path, text: str, fragment: str, line: int) -> None:
    error = only(errors_of(write(text)), fragment)
    assert error.line == line


def test_directory_instead_of_file(project: Path) -> None:
    error = only(errors_of(project), "is a directory")
    assert error.line == 0 and "cdtui.yaml" in error.hint


def test_no_traceback_for_a_missing_file(project: Path) -> None:
    assert only(errors_of(Path("nope.yaml")), "not found").line == 0


# -- finding the file and printing errors --------------------------------------------------------


def test_find_pipeline_file_default_and_explicit(project: Path) -> None:
    write("project: x\n")
    assert find_pipeline_file(project) == project / "cdtui.yaml"
    (project / "ci").mkdir()
    write("project: y\n", "ci/other.yaml")
    assert find_pipeline_file(project / "elsewhere", Path("ci/other.yaml")) == Path("ci/other.yaml")


def test_find_pipeline_file_missing_gives_a_hint(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        find_pipeline_file(project)
    (error,) = caught.value.errors
    assert (error.line, error.file) == (0, str(project / "cdtui.yaml"))
    assert "create cdtui.yaml" in error.hint
    write("project: x\n", "cdtui.yml")
    with pytest.raises(ConfigError) as caught:
        find_pipeline_file(project)
    assert "rename" in caught.value.errors[0].hint


def test_format_errors_puts_hints_on_their_own_lines() -> None:
    errors = [
        LocatedError("cdtui.yaml", 3, 5, "phases[0].name", "bad", "do this"),
        LocatedError("cdtui.yaml", 0, 0, "(file)", "the file is empty"),
    ]
    assert format_errors(errors).splitlines() == [
        "cdtui.yaml:3:5: phases[0].name: bad",
        "    hint: do this",
        "cdtui.yaml: the file is empty",
    ]
    assert str(ConfigError(errors)) == format_errors(errors)
