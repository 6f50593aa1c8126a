"""``cdtui hook``: a real git repository, real commits and pushes, blocked and let through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CDTUI = [sys.executable, "-m", "cdtui.cli"]

PIPELINE = """\
project: calc
phases:
  - name: Commit
    stages:
      - {name: unit, run: python -m unittest discover -s tests -t .}
  - name: Release
    gate: confirm
    stages:
      - {name: ship, run: echo shipped}
"""
TEST = """\
import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 2), 4)
"""
OLD_HOOK = '#!/bin/sh\necho "old hook ran" >> "$(git rev-parse --show-toplevel)/old-hook.txt"\n'


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=check, env=env
    )


def cdtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CDTUI, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose project lives in a subdirectory (as the sample does in cdtui's)."""
    root = tmp_path / "repo"
    project = root / "app"
    (project / "tests").mkdir(parents=True)
    (project / "cdtui.yaml").write_text(PIPELINE)
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (project / "tests" / "__init__.py").write_text("")
    (project / "tests" / "test_calc.py").write_text(TEST)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test Person")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_the_hook_blocks_a_failing_commit_and_lets_the_fix_through(repo: Path):
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text(OLD_HOOK)
    (hooks / "pre-commit").chmod(0o755)
    installed = cdtui("hook", "install", "app", cwd=repo)
    assert installed.returncode == 0, installed.stderr
    assert "kept the existing pre-commit hook" in installed.stdout

    (repo / "app" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git(repo, "add", ".")
    blocked = git(repo, "commit", "-m", "broken", check=False)
    assert blocked.returncode != 0
    assert "commit blocked: stage unit failed" in blocked.stderr
    assert "its log: cdtui logs 1 unit app" in blocked.stderr
    assert "AssertionError" in blocked.stdout + blocked.stderr  # the test's own output, shown
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert (repo / "old-hook.txt").read_text() == "old hook ran\n"  # chained, not overwritten
    log = cdtui("logs", "1", "unit", "app", cwd=repo)
    assert "AssertionError" in log.stdout

    (repo / "app" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    git(repo, "add", ".")
    passed = git(repo, "commit", "-m", "fixed", check=False)
    assert passed.returncode == 0, passed.stderr
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "2"

    removed = cdtui("hook", "uninstall", "app", cwd=repo)
    assert "restored the one it chained" in removed.stdout
    assert (hooks / "pre-commit").read_text() == OLD_HOOK
    assert not (hooks / "pre-commit.cdtui-chained").exists()


def test_a_pre_push_hook_blocks_the_push(repo: Path, tmp_path: Path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    assert cdtui("hook", "install", "app", "--pre-push", cwd=repo).returncode == 0
    (repo / "app" / "calc.py").write_text("def add(a, b):\n    return a * b + 1\n")
    git(repo, "commit", "-qam", "broken, committed without a pre-commit hook")
    pushed = git(repo, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0
    assert "push blocked: stage unit failed" in pushed.stderr
    assert git(remote, "branch", "--list").stdout.strip() == ""
    assert (
        cdtui("hook", "uninstall", "app", cwd=repo).stdout.strip()
        == "removed cdtui's pre-push hook"
    )


def test_a_gated_or_missing_phase_is_refused_and_outside_git_is_an_error(repo: Path, tmp_path):
    gated = cdtui("hook", "install", "app", "--phase", "Release", cwd=repo)
    assert gated.returncode == 2
    assert "is gated" in gated.stderr
    missing = cdtui("hook", "install", "app", "--phase", "Nope", cwd=repo)
    assert "there is no phase 'Nope' (phases: Commit, Release)" in missing.stderr
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "cdtui.yaml").write_text(PIPELINE)
    outside = cdtui("hook", "install", str(lonely), cwd=tmp_path)
    assert outside.returncode == 2
    assert "not in a git repository" in outside.stderr
