"""The sample's browser stage: real headless Chromium through the storefront on staging.

A copy of the sample on a free port, its staging server started by the pipeline itself; the
browser check must pass, a broken page must leave a screenshot and page source as artifacts,
and a missing browser must skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.routing_fixtures import free_port, require

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
CDTUI = [sys.executable, "-m", "cdtui.cli"]
STAGING_PORT = "8101"


def run(project: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 120):
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # python = this one
    return subprocess.run(
        list(argv),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": path, **(env or {})},
    )


def copy_sample(tmp_path: Path, edit=None) -> Path:
    project = tmp_path / "shop"
    skip = shutil.ignore_patterns(".cdtui", ".cdtui-demo", "__pycache__", ".ruff_cache", "dist")
    shutil.copytree(SAMPLE, project, ignore=skip)
    config = project / "cdtui.yaml"
    text = config.read_text()
    assert text.count(STAGING_PORT) >= 3, f"staging's port moved in {config}"
    config.write_text(re.sub(rf"\b{STAGING_PORT}\b", str(free_port()), text))
    if edit is not None:
        edit(project)
    built = run(project, sys.executable, "package.py", timeout=60)
    assert built.returncode == 0, built.stdout + built.stderr
    return project


@pytest.fixture
def staged(tmp_path: Path) -> Iterator[list[Path]]:
    """Projects whose staging server the test starts (via the pipeline) and this stops."""
    projects: list[Path] = []
    yield projects
    for project in projects:
        stopped = run(project, sys.executable, "scripts/staging.py", "stop", timeout=30)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def stage(project: Path, name: str, env: dict[str, str] | None = None):
    return run(project, *CDTUI, "run", "--headless", "--stage", name, ".", env=env)


def need_browser() -> None:
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        require(os.access(path, os.X_OK), f"{path} (apt-get install chromium chromium-driver)")


def test_the_browser_stage_passes_against_staging(tmp_path: Path, staged):
    need_browser()
    project = copy_sample(tmp_path)
    staged.append(project)
    done = stage(project, "browser")
    assert done.returncode == 0, done.stdout + done.stderr
    log = done.stdout
    assert "browser: 5 products listed: Assam tea, 250 g, Enamel mug" in log
    assert "browser: added 2 products: the page and the server count 2" in log
    assert "✓ browser succeeded" in log


def test_a_broken_page_leaves_a_screenshot_and_page_source_as_artifacts(tmp_path, staged):
    need_browser()

    def break_cart_button(project: Path) -> None:
        script = project / "shop" / "static" / "app.js"
        text = script.read_text()
        assert "if (reply.ok) showCart(body);" in text
        script.write_text(text.replace("if (reply.ok) showCart(body);", ""))

    project = copy_sample(tmp_path, break_cart_button)
    staged.append(project)
    done = stage(project, "browser-evidence")
    log = done.stdout
    assert done.returncode == 1, log + done.stderr
    assert "browser: FAILED: TimeoutException" in log
    assert "✗ browser failed" in log
    assert re.search(r"artifact \.cdtui-demo/browser/storefront\.png sha256:[0-9a-f]{8}", log)
    assert re.search(r"artifact \.cdtui-demo/browser/storefront\.html sha256:[0-9a-f]{8}", log)
    screenshot = (project / ".cdtui-demo" / "browser" / "storefront.png").read_bytes()
    assert screenshot.startswith(b"\x89PNG")
    page = (project / ".cdtui-demo" / "browser" / "storefront.html").read_text()
    assert "Enamel mug" in page  # the page as the browser rendered it, not the static file


def test_a_missing_browser_skips_locally_and_fails_under_ci(tmp_path: Path, staged):
    project = copy_sample(tmp_path)
    staged.append(project)
    gone = {"SHOP_CHROMIUM": str(tmp_path / "no-chromium"), "CI": "false"}
    local = stage(project, "browser", env=gone)
    assert local.returncode == 0, local.stdout + local.stderr
    row = r"│ Load & Perf │ browser\s+│ SKIPPED .*│ skipped: no browser here"
    assert re.search(row, local.stdout), local.stdout
    assert "✓ run 1 succeeded" in local.stdout
    ci = stage(project, "browser", env={**gone, "CI": "true"})
    assert ci.returncode == 1
    assert "CI=true, so a missing browser fails" in ci.stdout
    assert "✗ browser failed" in ci.stdout
