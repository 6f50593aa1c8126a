"""The sample project's Load & Perf phase with cdtui's load stage: the packaged shop as staging,
the static asset's p95 and the catalogue API's p99 and error rate judged, staging stopped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.routing_fixtures import free_port

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"


def test_the_sample_load_phase_judges_the_shop_through_kept_alive_connections(tmp_path: Path):
    project = tmp_path / "shop"
    skip = shutil.ignore_patterns(".cdtui", ".cdtui-demo", "__pycache__", ".ruff_cache", "dist")
    shutil.copytree(SAMPLE, project, ignore=skip)
    config = project / "cdtui.yaml"
    text = config.read_text()
    assert text.count("8101") >= 3, "the staging port moved in sample_project/cdtui.yaml"
    config.write_text(text.replace("8101", str(free_port())))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # python = this one
    env = {**os.environ, "PATH": path}
    cdtui = [sys.executable, "-m", "cdtui.cli", "run", "--headless"]
    # The package stage keeps the .pyz that Load & Perf starts (``from: latest``).
    built = subprocess.run(
        [*cdtui, "--stage", "package", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    argv = [*cdtui, "--phase", "Load & Perf", "."]
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "✓ http_req_duration p(95)<20 on static: measured" in out
    assert "✓ http_req_duration p(99)<100 on catalogue: measured" in out
    assert "✓ http_req_failed rate<0.01 on catalogue: measured 0," in out
    assert "⏱ 1s, 2s left · " in out  # the progress line
    assert "staging: stopped" in out
    (summary,) = (project / ".cdtui" / "logs").rglob("smoke.1.load.json")
    data = json.loads(summary.read_text())
    assert data["requests"] == 300 and data["failed"] == 0 and data["valid"]
    assert set(data["scenarios"]) == {"static", "catalogue"}
    assert data["scenarios"]["static"]["requests"] == 225  # weight 3 of 4
    assert data["generator"]["connections"] <= 4  # kept alive, not a connection a request
