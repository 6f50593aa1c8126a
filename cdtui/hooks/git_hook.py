"""A git hook that runs a pipeline phase before a commit (or a push) and blocks it on failure.

The hook is a small sh script that calls ``cdtui hook run``; a hook already there is kept beside
it (``NAME.cdtui-chained``) and run first, and uninstall puts it back. Only phases that neither
release nor wait at a gate may be hooked: a commit must never ship anything.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = "# installed by cdtui hook install"
CHAINED_SUFFIX = ".cdtui-chained"
HOOK_NAMES = ("pre-commit", "pre-push")


class HookError(Exception):
    """Something an operator must fix before the hook can be installed or removed."""


@dataclass(frozen=True)
class HookPlace:
    """Where the hook goes: the repository's hooks dir and the project's path inside the repo."""

    hooks_dir: Path
    top: Path
    project_rel: str

    def hook(self, name: str) -> Path:
        return self.hooks_dir / name

    def chained(self, name: str) -> Path:
        return self.hooks_dir / f"{name}{CHAINED_SUFFIX}"


def locate(project_dir: Path) -> HookPlace:
    """The git repository holding ``project_dir`` (core.hooksPath honoured)."""
    project_dir = project_dir.resolve()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise HookError(
                f"{project_dir} is not in a git repository ({done.stderr.strip()}): "
                "run `git init` first"
            )
        return done.stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        hooks = Path(git("rev-parse", "--git-path", "hooks"))
    except FileNotFoundError as error:
        raise HookError("git is not installed (needed for a git hook)") from error
    hooks_dir = hooks if hooks.is_absolute() else (project_dir / hooks)
    rel = os.path.relpath(project_dir, top)
    return HookPlace(hooks_dir.resolve(), top, "." if rel == "." else rel)


def script(name: str, phase: str, project_rel: str, python: str = sys.executable) -> str:
    """The hook's text: chain the old hook, then the phase headless from the project's dir."""
    run = f"-m cdtui.cli hook run --hook {name} --phase {shlex.quote(phase)} ."
    verb = name.removeprefix("pre-")
    return f"""#!/bin/sh
{MARKER}: runs the {phase} phase before each {verb};
# a failure blocks it. Remove with: cdtui hook uninstall. Skip once: git {verb} --no-verify
chained="$(dirname "$0")/{name}{CHAINED_SUFFIX}"
if [ -x "$chained" ]; then
  "$chained" "$@" || exit $?
fi
cd "$(git rev-parse --show-toplevel)"/{shlex.quote(project_rel)} || exit 1
if [ -x {shlex.quote(python)} ]; then
  exec {shlex.quote(python)} {run}
fi
exec cdtui {run.removeprefix("-m cdtui.cli ")}
"""


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install(place: HookPlace, name: str, phase: str) -> list[str]:
    """Write the hook (again, if it is ours); keep a foreign one as the chained hook."""
    hook, chained = place.hook(name), place.chained(name)
    said: list[str] = []
    place.hooks_dir.mkdir(parents=True, exist_ok=True)
    if hook.exists() and not is_ours(hook):
        if chained.exists():
            raise HookError(
                f"{hook} is not cdtui's and {chained} exists already: merge them by hand"
            )
        hook.rename(chained)
        said.append(f"kept the existing {name} hook: it runs first ({chained.name})")
    hook.write_text(script(name, phase, place.project_rel), encoding="utf-8")
    hook.chmod(0o755)
    said.append(f"installed {hook}: the {phase} phase runs before each {name.removeprefix('pre-')}")
    return said


def uninstall(place: HookPlace, names: tuple[str, ...] = HOOK_NAMES) -> list[str]:
    """Remove cdtui's hooks and put back what they chained; a foreign hook is left alone."""
    said: list[str] = []
    for name in names:
        hook, chained = place.hook(name), place.chained(name)
        if not is_ours(hook):
            continue
        hook.unlink()
        if chained.exists():
            chained.rename(hook)
            said.append(f"removed cdtui's {name} hook; restored the one it chained")
        else:
            said.append(f"removed cdtui's {name} hook")
    return said or ["no cdtui hook installed"]
