"""``cdtui hook install|uninstall``: test before commit; ``cdtui hook run`` is what hooks call."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cdtui.commands.options import project_argument
from cdtui.commands.run import EXIT_FAILED, EXIT_USAGE, load_or_exit


@click.group()
def hook() -> None:
    """A git hook that runs a phase (Commit) headless and blocks the commit when it fails."""


def _refusal(pipeline, phase: str) -> str:
    """Why this phase must not run from a hook ('' when it may): a commit ships nothing."""
    try:
        chosen = next(p for p in pipeline.phases if p.name.lower() == phase.lower())
    except StopIteration:
        names = ", ".join(p.name for p in pipeline.phases)
        return f"there is no phase {phase!r} (phases: {names})"
    if chosen.release is not None or any(s.kind in ("release", "rollback") for s in chosen.stages):
        return f"phase {chosen.name!r} releases: a hook never runs a release"
    if chosen.gate:
        return f"phase {chosen.name!r} is gated (gate: {chosen.gate}): a hook never approves one"
    return ""


@hook.command()
@project_argument
@click.option("--phase", default="Commit", show_default=True, help="The phase the hook runs.")
@click.option("--pre-push", is_flag=True, help="Run it before each push instead of each commit.")
def install(project_dir: Path, phase: str, pre_push: bool) -> None:
    """Install the hook in the git repository holding DIR (an existing hook is chained)."""
    from cdtui.hooks.git_hook import HookError, install, locate

    _path, pipeline = load_or_exit(project_dir.resolve(), None)
    why = _refusal(pipeline, phase)
    if why:
        click.echo(f"error: {why}", err=True)
        sys.exit(EXIT_USAGE)
    name = next(p.name for p in pipeline.phases if p.name.lower() == phase.lower())
    try:
        for line in install(locate(project_dir), "pre-push" if pre_push else "pre-commit", name):
            click.echo(line)
    except (HookError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)


@hook.command()
@project_argument
def uninstall(project_dir: Path) -> None:
    """Remove cdtui's hooks from DIR's repository and restore the hooks they chained."""
    from cdtui.hooks.git_hook import HookError, locate, uninstall

    try:
        for line in uninstall(locate(project_dir)):
            click.echo(line)
    except (HookError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)


@hook.command(hidden=True)
@project_argument
@click.option("--phase", default="Commit")
@click.option("--hook", "hook_name", default="pre-commit")
def run(project_dir: Path, phase: str, hook_name: str) -> None:
    """What the installed hook runs: the phase headless; exit 1 (blocking git) on failure."""
    from cdtui.engine.events import StageFinished
    from cdtui.engine.plan import make_plan

    project_dir = project_dir.resolve()
    path, pipeline = load_or_exit(project_dir, None)
    why = _refusal(pipeline, phase)
    if why:
        click.echo(f"cdtui {hook_name} hook: {why}; fix cdtui.yaml or the hook's --phase", err=True)
        sys.exit(EXIT_USAGE)
    name = next(p.name for p in pipeline.phases if p.name.lower() == phase.lower())
    failed: list[StageFinished] = []

    def collect(event: object) -> None:
        if isinstance(event, StageFinished) and not event.status.ok and not event.will_retry:
            failed.append(event)

    from cdtui.commands.run import run_headless

    where = _shown(project_dir)
    code, status = run_headless(
        project_dir,
        pipeline,
        make_plan(pipeline, (name,)),
        jobs=os.cpu_count() or 2,
        approve=(),
        hint=f"cdtui logs {{run_id}} {where}",
        hint_file=str(path),
        observers=(collect,),
        selection=f"git {hook_name} hook: {name}",
    )
    if code == 0:
        return
    verb = hook_name.removeprefix("pre-")
    for stage in failed:
        reason = f": {stage.reason}" if stage.reason else ""
        click.echo(
            f"cdtui: {verb} blocked: stage {stage.stage} {stage.status.lower()}{reason}\n"
            f"  its log: cdtui logs {stage.run_id} {stage.stage} {where}",
            err=True,
        )
    if not failed:
        click.echo(f"cdtui: {verb} blocked: the {name} phase {status.lower()}", err=True)
    click.echo(f"  fix it and {verb} again (git {verb} --no-verify skips the hook)", err=True)
    sys.exit(EXIT_FAILED)


def _shown(project_dir: Path) -> str:
    """The project as the person at the repository's top would type it."""
    from cdtui.hooks.git_hook import HookError, locate

    try:
        return locate(project_dir).project_rel
    except HookError:
        return str(project_dir)
