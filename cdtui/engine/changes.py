"""What ``branch`` and ``changed("glob")`` of an ``if:`` read: the revision under test.

``changed`` compares the files of ``HEAD`` against a base, plus what the working tree changed
and added (a local run tests the tree as it is). The base, first that applies:
``CDTUI_CHANGED_BASE`` (any git revision), the merge request's target on GitLab
(``CI_MERGE_REQUEST_DIFF_BASE_SHA``) or the pull request's on GitHub (``origin/$GITHUB_BASE_REF``),
the merge base with ``origin/HEAD`` when HEAD is not on it, else the previous commit (``HEAD~1``).
Outside a git repository, or when the base is not in the clone (fetch the history: a shallow
CI checkout lacks it), every ``changed`` is true: cdtui cannot tell, so the stage runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from cdtui.config.conditions import glob_regex

_GIT_TIMEOUT = 20.0


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def current_branch(project_dir: Path, environ: Mapping[str, str]) -> str:
    """The branch under test: CI's own variables first (a CI checkout is a detached HEAD)."""
    for name in ("CDTUI_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"):
        if environ.get(name):
            return environ[name]
    found = (_git(project_dir, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    return "" if found == "HEAD" else found


def base_revision(project_dir: Path, environ: Mapping[str, str]) -> str | None:
    if environ.get("CDTUI_CHANGED_BASE"):
        return environ["CDTUI_CHANGED_BASE"]
    if environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA"):
        return environ["CI_MERGE_REQUEST_DIFF_BASE_SHA"]
    if environ.get("GITHUB_BASE_REF"):
        return f"origin/{environ['GITHUB_BASE_REF']}"
    head = (_git(project_dir, "rev-parse", "HEAD") or "").strip()
    upstream = _git(project_dir, "merge-base", "HEAD", "origin/HEAD")
    if upstream and upstream.strip() != head:
        return upstream.strip()
    return "HEAD~1" if _git(project_dir, "rev-parse", "--verify", "-q", "HEAD~1") else None


def changed_files(project_dir: Path, environ: Mapping[str, str]) -> list[str] | None:
    """Paths (relative to the repository root) changed since the base; None outside git."""
    if _git(project_dir, "rev-parse", "--git-dir") is None:
        return None
    found: set[str] = set()
    base = base_revision(project_dir, environ)
    if base is not None:
        diff = _git(project_dir, "diff", "--name-only", "--no-renames", f"{base}...HEAD")
        if diff is None:  # no merge base (a shallow clone): compare with the base directly
            diff = _git(project_dir, "diff", "--name-only", "--no-renames", base, "HEAD")
        if diff is None:  # the base is not here at all: cdtui cannot tell, so all changed
            return None
        found.update(line for line in diff.splitlines() if line)
    else:  # the first commit: all of it is new
        listed = _git(project_dir, "ls-tree", "-r", "--name-only", "HEAD") or ""
        found.update(line for line in listed.splitlines() if line)
    tree = _git(project_dir, "status", "--porcelain", "--untracked-files=all", "--no-renames")
    for line in (tree or "").splitlines():
        if len(line) > 3:
            found.add(line[3:].strip('"'))
    prefix = (_git(project_dir, "rev-parse", "--show-prefix") or "").strip()
    if prefix:  # the project is a subdirectory: globs are relative to it
        found = {p[len(prefix) :] for p in found if p.startswith(prefix)}
    return sorted(found)


class Changes:
    """Computed once per run, on first use (most pipelines never ask)."""

    def __init__(self, project_dir: Path, environ: Mapping[str, str]) -> None:
        self.project_dir, self.environ = project_dir, environ
        self._files: list[str] | None = None
        self._known = False

    @property
    def files(self) -> list[str] | None:
        if not self._known:
            self._files, self._known = changed_files(self.project_dir, self.environ), True
        return self._files

    def any(self, globs: tuple[str, ...]) -> bool:
        files = self.files
        if files is None:
            return True
        patterns = [glob_regex(g) for g in globs]
        return any(p.match(f) for p in patterns for f in files)
