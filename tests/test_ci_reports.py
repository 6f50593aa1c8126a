"""cdtui inside CI, through real `cdtui run` processes: JUnit validated against the schema,
the event stream as JSON lines, GitHub annotations and step summary, log groups, --plain."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shutil
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from cdtui.ci.groups import GroupedRenderer
from cdtui.engine.events import StageFinished, StageOutput, StageStarted, Status
from tests.routing_fixtures import require
from tests.test_headless_cli import CDTUI, cdtui, write

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"
PIPELINE = """\
project: shop
phases:
  - name: Build
    stages:
      - {name: compile, run: "echo compiled"}
      - {name: bad, run: "echo first; echo 'the real problem'; exit 3", needs: [compile]}
      - {name: after-bad, run: "true", needs: [bad]}
      - name: test
        run: 'echo "py ${matrix.py}"'
        matrix: {py: ["3.11", "3.12"]}
      - name: build
        steps:
          - {name: wheel, run: "echo wheel"}
          - {name: check, run: "exit 1", continue_on_error: true}
"""


def xmllint() -> str:
    found = shutil.which("xmllint")
    require(found is not None, "xmllint (apt-get install libxml2-utils)")
    assert found is not None
    return found


def test_junit_report_validates_and_holds_every_stage_leg_and_step(tmp_path: Path) -> None:
    lint = xmllint()
    write(tmp_path / "project", PIPELINE)
    done = cdtui("run", "--headless", "--junit", "out/report.xml", "project", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = tmp_path / "out" / "report.xml"  # relative to where cdtui ran, not the project
    checked = subprocess.run(
        [lint, "--noout", "--schema", str(SCHEMA), str(report)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    root = ET.parse(report).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {
        "compile",
        "bad",
        "after-bad",
        "test[py=3.11]",
        "test[py=3.12]",
        "build",
        "build / wheel",
        "build / check",
    }
    failure = cases["bad"].find("failure")
    assert failure is not None and failure.get("message") == "exit code 3"
    assert "the real problem" in (failure.text or "")
    assert cases["after-bad"].find("skipped") is not None
    assert cases["build / check"].find("failure") is not None
    assert root.get("tests") == "8" and root.get("failures") == "2"


def test_a_schema_check_that_can_fail(tmp_path: Path) -> None:
    """The schema is strict enough to catch a broken report (a testcase without classname)."""
    lint = xmllint()
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
        '<testcase name="a" time="1"/></testsuite></testsuites>'
    )
    checked = subprocess.run(
        [lint, "--noout", "--schema", str(SCHEMA), str(bad)], capture_output=True, text=True
    )
    assert checked.returncode != 0 and "classname" in checked.stderr


def test_events_to_stdout_are_json_lines_and_the_log_moves_to_stderr(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    done = cdtui("run", "--headless", "--events", "-", ".", cwd=tmp_path)
    payloads = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [p["kind"] for p in payloads]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert {"StageStarted", "StageOutput", "StepFinished", "StageFinished"} <= set(kinds)
    bad = [p for p in payloads if p["kind"] == "StageFinished" and p["stage"] == "bad"]
    assert bad[0]["status"] == "FAILED" and bad[0]["project"] == "shop"
    assert "compile" in done.stderr and "Summary" in done.stderr


def test_github_actions_gets_groups_annotations_and_a_step_summary(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    done = cdtui("run", "--headless", ".", cwd=tmp_path, env=env)
    out = done.stdout
    assert "::group::Build / compile\n" in out and "::endgroup::" in out
    assert out.count("::group::") == out.count("::endgroup::")
    error = out.index("::error file=cdtui.yaml,line=6,title=Build / bad failed::exit code 3")
    group = out.index("::group::Build / bad\n")
    assert group < error < out.index("::endgroup::", group)  # in the failed stage's own group
    table = summary.read_text()
    assert "| phase | stage | status | duration | reason |" in table
    assert "| Build | bad | ❌ failed |" in table and "test[py=3.12]" in table


def test_a_located_pipeline_error_is_an_annotation_on_its_line(tmp_path: Path) -> None:
    write(tmp_path, "project: t\nphases:\n  - name: P\n    stages:\n      - {name: a, rnu: x}\n")
    done = cdtui("run", "--headless", ".", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert done.returncode == 2
    assert "::error file=cdtui.yaml,line=5," in done.stdout
    assert "unknown key 'rnu'" in done.stdout


def test_gitlab_gets_collapsed_sections(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    done = cdtui("run", "--headless", ".", cwd=tmp_path, env={"GITLAB_CI": "true"})
    # text mode reads GitLab's \r as a line end
    marker = r"\x1b\[0Ksection_start:\d+:Build_compile\[collapsed=true\]\s\x1b\[0KBuild / compile"
    assert re.search(marker, done.stdout)
    assert done.stdout.count("section_start:") == done.stdout.count("section_end:")


def test_groups_never_interleave_parallel_stages() -> None:
    seen: list[str] = []
    out = io.StringIO()
    grouped = GroupedRenderer(lambda e: seen.append(f"{type(e).__name__}:{e.stage}"), out, "github")
    a, b = ("P", "a"), ("P", "b")

    def started(key):
        return StageStarted(1, time.time(), *key, 1, "x")

    def line(key):
        return StageOutput(1, time.time(), *key, 1, "stdout", "x\n")

    def finished(key):
        return StageFinished(1, time.time(), *key, 1, Status.SUCCEEDED)

    for event in (started(a), started(b), line(b), line(a), finished(b), line(a), finished(a)):
        grouped(event)
    assert seen == [
        "StageStarted:a",
        "StageOutput:a",
        "StageOutput:a",
        "StageFinished:a",
        "StageStarted:b",
        "StageOutput:b",
        "StageFinished:b",
    ]
    assert out.getvalue() == "::group::P / a\n::endgroup::\n::group::P / b\n::endgroup::\n"


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """cdtui's output when its stdout is a terminal (colour is on by default there)."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*CDTUI, *args], cwd=cwd, stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", "replace")


def test_plain_has_no_colour_even_on_a_terminal(tmp_path: Path) -> None:
    write(
        tmp_path, "project: t\nphases:\n  - name: P\n    stages:\n      - {name: a, run: 'true'}\n"
    )
    assert "\x1b[" in _on_a_terminal(["run", "--headless", "."], tmp_path)
    plain = _on_a_terminal(["run", "--headless", "--plain", "."], tmp_path)
    assert "\x1b[" not in plain and "a succeeded" in plain
