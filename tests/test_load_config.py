"""A load: block's mistakes are located errors: the line, the path, what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdtui.config import ConfigError, load_pipeline
from cdtui.config.errors import LocatedError, format_errors

HEAD = """project: p
phases:
  - name: Perf
    stages:
      - name: load
        load:
          url: http://127.0.0.1:8101/static/style.css
"""


def errors_of(tmp_path: Path, body: str) -> list[LocatedError]:
    path = tmp_path / "cdtui.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    return caught.value.errors


def loads(tmp_path: Path, body: str):
    path = tmp_path / "cdtui.yaml"
    path.write_text(HEAD + body)
    return load_pipeline(path).phases[0].stages[0]


def test_a_well_formed_block_reads_as_the_issue_sketches_it(tmp_path: Path):
    stage = loads(
        tmp_path,
        """          rate: 200/s
          duration: 30s
          thresholds:
            http_req_duration: ["p(95)<50", "p(99)<200"]
            http_req_failed: ["rate<0.01"]
            http_reqs: ["rate>=190"]
          max_regression: 10%
""",
    )
    assert stage.kind == "load"
    spec = stage.spec
    assert spec.rate == 200 and spec.total_duration == 30 and spec.max_regression == 10
    assert [c.expression.text for c in spec.thresholds.checks()] == [
        "p(95)<50",
        "p(99)<200",
        "rate<0.01",
        "rate>=190",
    ]
    assert stage.command_text == (
        "load GET http://127.0.0.1:8101/static/style.css at 200/s for 30s"
    )


@pytest.mark.parametrize(
    ("threshold", "line", "said"),
    [
        ('http_req_duration: ["p(95)<50", "p95<3"]', 11, "cannot read threshold 'p95<3'"),
        ('http_req_failed: ["p(95)<1"]', 11, "http_req_failed has no 'p(95)' (it has rate)"),
        ('http_req_duration: ["p(95)=50"]', 11, "the operator '=' is not supported"),
        ('http_req_duraton: ["p(95)<50"]', 11, "http_req_duration"),  # did you mean
    ],
)
def test_threshold_syntax_errors_are_located(tmp_path: Path, threshold, line, said):
    errors = errors_of(
        tmp_path,
        f"""          rate: 200/s
          duration: 2s
          thresholds:
            {threshold}
""",
    )
    assert len(errors) == 1, format_errors(errors)
    (error,) = errors
    assert said in error.message + error.hint, str(error)
    assert error.line == line, str(error)
    assert error.path.startswith("phases[0].stages[0].load.thresholds"), error.path


def test_a_rate_needs_its_unit_and_a_model_is_chosen(tmp_path: Path):
    (error,) = errors_of(tmp_path, "          rate: 200\n          duration: 2s\n")
    assert "write 200/s" in error.message and error.line == 8
    (error,) = errors_of(
        tmp_path, "          rate: 5/s\n          vus: 3\n          duration: 2s\n"
    )
    assert "give rate: (an open model" in error.message
    (error,) = errors_of(tmp_path, "          rate: 5/s\n")
    assert "duration is missing" in error.message


def test_https_and_bad_urls_are_refused_with_a_hint(tmp_path: Path):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        HEAD.replace("http://", "https://") + "          rate: 5/s\n          duration: 1s\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    (error,) = caught.value.errors
    assert "https is not supported" in error.message and error.line == 7


def test_report_paths_stay_inside_the_project(tmp_path: Path):
    body = "          rate: 5/s\n          duration: 1s\n          junit: ../out.xml\n"
    (error,) = errors_of(tmp_path, body)
    assert "a path inside the project" in error.message and error.line == 10
