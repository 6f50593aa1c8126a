"""The sample's Gherkin features through its bdd stage: real servers, the .pyz, JUnit counts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdtui.engine.junit_counts import main as junit_main
from cdtui.engine.junit_counts import read_counts

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
CDTUI = [sys.executable, "-m", "cdtui.cli"]
FIDELITIES = ("in-process", "http", "pyz")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    skip = shutil.ignore_patterns(".cdtui", ".cdtui-demo", "__pycache__", ".ruff_cache", "dist")
    shutil.copytree(SAMPLE, project, ignore=skip)
    return project


def bdd_stage(project: Path) -> subprocess.CompletedProcess[str]:
    """The stage as the pipeline runs it, ``python`` being this interpreter (as in a venv)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [*CDTUI, "run", "--headless", "--stage", "bdd", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_features_run_at_every_fidelity_and_report_scenario_counts(sample: Path):
    done = bdd_stage(sample)
    assert done.returncode == 0, done.stdout + done.stderr
    counts = read_counts(sample / ".cdtui-demo" / "reports" / "bdd.xml")
    assert counts.failed == 0 and counts.skipped == 0
    assert counts.passed >= 45
    features = sorted(p.name for p in (sample / "tests" / "bdd" / "features").glob("*.feature"))
    assert len(features) >= 5
    log = done.stdout
    assert f"scenario runs: {counts.passed} passed, 0 failed, 0 skipped" in log
    assert f"bdd: scenario runs passed {counts.passed}, scenario runs failed 0" in log  # summary
    ran = re.findall(r"\[(in-process|http|pyz)[^\]]*\]", _test_ids(sample))
    assert set(ran) == set(FIDELITIES)
    first = [ran.index(f) for f in FIDELITIES]
    last = [len(ran) - 1 - ran[::-1].index(f) for f in FIDELITIES]
    assert last[0] < first[1] and last[1] < first[2], "lowest fidelity first"


def _test_ids(project: Path) -> str:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "tests/bdd/pytest.ini", "tests/bdd", "--co", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return listed.stdout


def test_a_broken_step_definition_fails_the_stage_naming_the_scenario(sample: Path):
    steps = sample / "tests" / "bdd" / "conftest.py"
    text = steps.read_text()
    broken = text.replace(
        '.json()["count"] == count', '.json()["count"] == count + 1  # broken on purpose'
    )
    assert broken != text
    steps.write_text(broken)
    faults = sample / "tests" / "bdd" / "features" / "faults.feature"
    faults.write_text(faults.read_text().replace("Then 5 of them", "Then five of them"))
    done = bdd_stage(sample)
    assert done.returncode == 1
    log = done.stdout
    assert "✗ bdd failed" in log
    assert (
        "✗ Scenario: Adding a product twice counts it twice [in-process] "
        "(features/cart.feature:8) failed at step 'And cart \"c-1\" holds 3 items'"
    ) in log
    assert "Scenario: A fail rate fails that share of requests [http]" in log
    assert "no step definition for 'five of them answered 500'" in log
    counts = read_counts(sample / ".cdtui-demo" / "reports" / "bdd.xml")
    assert counts.failed > 0
    assert f"scenario runs failed {counts.failed} (<= 0)" in log


def test_junit_counts_reads_failures_errors_and_skips(tmp_path: Path, capsys, monkeypatch):
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="s">'
        '<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>'
        '<testcase name="c"><error/></testcase><testcase name="d"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    metrics = tmp_path / "m.jsonl"
    monkeypatch.setenv("CDTUI_METRICS", str(metrics))
    assert junit_main([str(report), "--label", "scenarios"]) == 0
    said = capsys.readouterr().out
    assert said.strip() == "scenarios: 1 passed, 2 failed, 1 skipped (failed: b, c)"
    assert '"name": "scenarios failed", "value": 2, "threshold": 0' in metrics.read_text()
    (tmp_path / "bad.xml").write_text("<html/>")
    assert junit_main([str(tmp_path / "bad.xml")]) == 0
    assert "not a JUnit report" in capsys.readouterr().err


async def test_the_console_tells_the_scenario_counts_when_the_stage_ends(tmp_path: Path):
    import time

    from cdtui.ui.app import CdtuiApp

    report = (
        '<testsuite><testcase name="ok"/><testcase name="Listing products[pyz]">'
        '<failure message="x"/></testcase></testsuite>'
    )
    (tmp_path / "report.xml").write_text(report)
    counts = f"{sys.executable} -m cdtui.engine.junit_counts report.xml --label scenarios"
    (tmp_path / "cdtui.yaml").write_text(
        f"project: demo\nphases:\n  - name: Acceptance\n    stages:\n"
        f"      - {{name: bdd, run: '{counts}'}}\n"
    )
    app = CdtuiApp(tmp_path, monitor=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        deadline = time.monotonic() + 10
        while not [n for n in app._notifications if n.title == "Measured"]:
            assert time.monotonic() < deadline, "no Measured notification"
            await pilot.pause(0.05)
        told = next(n for n in app._notifications if n.title == "Measured")
        assert told.message == "bdd: scenarios passed 1, scenarios failed 1, scenarios skipped 0"
        assert told.severity == "error"
