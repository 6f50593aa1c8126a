"""``checkout: clean``: a stage runs in a fresh checkout of the revision under test.

A detached ``git worktree`` of HEAD under the state dir (``checkouts/RUN/PHASE/STAGE.ATTEMPT``),
its submodules checked out, removed after the attempt unless ``keep``. Files changed or added in
the working tree are not in it (that is the point: a stage sees the commit, not the desk), and a
notice says which. The stage's cwd and artifacts resolve inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cdtui.store.logs import slug

GIT_TIMEOUT = 120.0


class CheckoutError(Exception):
    """The clean checkout could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class Revision:
    commit: str
    dirty: tuple[str, ...] = ()  # working-tree paths that differ from HEAD (left out)
    top: Path = Path()  # the repository's root
    prefix: str = ""  # the project's directory inside it ('' at the root)


@dataclass
class CleanCheckout:
    path: Path  # the worktree's root
    workdir: Path  # where the project is inside it
    revision: Revision
    notes: list[str] = field(default_factory=list)


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CheckoutError(f"git {args[0]} failed: {error}") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise CheckoutError(f"git {' '.join(args[:2])} failed: {said[-1] if said else '?'}")
    return done.stdout


def revision(project_dir: Path) -> Revision | None:
    """HEAD and what the working tree changed; None outside a git repository (or no commit)."""
    try:
        top = Path(_git(project_dir, "rev-parse", "--show-toplevel").strip())
        commit = _git(project_dir, "rev-parse", "--verify", "HEAD").strip()
    except CheckoutError:
        return None
    status = _git(top, "status", "--porcelain", "--untracked-files=all", check=False)
    dirty = tuple(line[3:].strip('"') for line in status.splitlines() if len(line) > 3)
    prefix = _git(project_dir, "rev-parse", "--show-prefix", check=False).strip().rstrip("/")
    return Revision(commit, dirty, top, prefix)


def checkout_dir(state: Path, run_id: int, phase: str, stage: str, attempt: int) -> Path:
    return state / "checkouts" / str(run_id) / slug(phase) / f"{slug(stage)}.{attempt}"


def make(found: Revision | None, target: Path, *, submodules: bool = True) -> CleanCheckout:
    """A detached worktree of ``found`` (the run's revision) at ``target``."""
    if found is None:
        raise CheckoutError(
            "checkout: clean needs a git repository with a commit; run git init and commit, "
            "or drop checkout: clean"
        )
    if target.exists():
        remove(found.top, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(found.top, "worktree", "add", "--detach", "--quiet", str(target), found.commit)
    notes = []
    if submodules and (target / ".gitmodules").is_file():
        _git(
            target,
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "--init",
            "--recursive",
            "--quiet",
        )
    if found.dirty:
        shown = ", ".join(found.dirty[:5]) + (" …" if len(found.dirty) > 5 else "")
        notes.append(
            f"checkout: clean of {found.commit[:12]}: {len(found.dirty)} changed or untracked "
            f"file(s) of the working tree are not in it ({shown}); commit them to test them"
        )
    workdir = target / found.prefix if found.prefix else target
    return CleanCheckout(target, workdir, found, notes)


def remove(top: Path, target: Path) -> None:
    """The worktree and its registration; a directory git no longer knows is deleted anyway."""
    _git(top, "worktree", "remove", "--force", str(target), check=False)
    if target.exists():  # git no longer knew it: delete it, and forget its registration
        shutil.rmtree(target, ignore_errors=True)
        _git(top, "worktree", "prune", check=False)
    parent = target.parent
    for _ in range(3):  # empty STAGE/PHASE/RUN directories go with it
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = parent.parent
