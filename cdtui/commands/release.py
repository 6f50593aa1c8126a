"""``cdtui release|rollback|status [DIR]``: drive a blue/green release from a shell.

Thin over the front door (``cdtui.session``): the release runs the release phase's stage, a
rollback is ``Session.rollback``; each is recorded as a run in DIR/.cdtui, so ``cdtui history``
lists it beside pipeline runs.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from cdtui.commands.options import file_option, project_argument
from cdtui.commands.router import _spec_or_exit, phase_option
from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, StageFinished, StageOutput, Status

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
T = TypeVar("T")


def _fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _parse_steps(value: str | None) -> list[int] | None:
    """``10,50,100`` checked by the same rules as ``steps:`` in the pipeline file."""
    from pydantic import ValidationError

    if value is None:
        return None
    try:
        steps = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected the new colour's shares of traffic (%), like 10,50,100"
        ) from None
    try:
        urls = {"blue": {"url": "http://blue"}, "green": {"url": "http://green"}}
        ReleaseSpec.model_validate({**urls, "steps": steps})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(f"{value!r}: {message}") from None
    return steps


async def _cancellable(work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@click.command()
@project_argument
@file_option
@phase_option
@click.option(
    "--steps", help="The new colour's shares of traffic (%) instead of the pipeline's: 10,50,100."
)
@click.option(
    "--reconcile", is_flag=True, help="Adopt the router's weights when they differ from the record."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def release(
    project_dir: Path,
    pipeline_file: Path | None,
    phase: str | None,
    steps: str | None,
    reconcile: bool,
    yes: bool,
) -> None:
    """Release the tested artifact: deploy the idle colour, then shift traffic in steps.

    It runs the release phase alone, its gate approved, as a run of its own: the same stage,
    log, records and refusals as the phase in a pipeline run (`cdtui logs N release`)."""
    from cdtui.commands.run import load_or_exit, run_headless
    from cdtui.engine.plan import make_plan
    from cdtui.stages.release import REFUSED, RELEASE_STAGE

    _spec_or_exit(project_dir, pipeline_file, phase)
    path, pipeline = load_or_exit(project_dir.resolve(), pipeline_file)
    name, spec = next(
        (p.name, p.release)
        for p in pipeline.phases
        if p.release is not None and (phase is None or p.name.lower() == phase.lower())
    )
    chosen = _parse_steps(steps)
    refusal = _untested(project_dir, pipeline_file, phase)
    if refusal is not None:
        _fail(f"{refusal.title}: {refusal.why}.\n{refusal.fix}")
    if not yes:
        shown = ", ".join(map(str, chosen or spec.effective_steps))
        click.confirm(f"Release on the {spec.router.kind} router in steps {shown}%?", abort=True)
    ended: list[StageFinished] = []

    def watch(event: Event) -> None:
        if isinstance(event, StageFinished) and event.stage == RELEASE_STAGE:
            ended.append(event)

    overrides = {"release": {"steps": chosen, "reconcile": reconcile}}
    project_dir = project_dir.resolve()
    code, status = run_headless(
        project_dir,
        pipeline,
        make_plan(pipeline, [name]),
        jobs=1,
        approve=(name,),
        hint=f"cdtui logs {{run_id}} {RELEASE_STAGE} {project_dir}",
        hint_file=str(path),
        overrides=overrides,
        observers=(watch,),
        selection="release",
    )
    if status is Status.CANCELLED:
        _fail("interrupted: all traffic was given back to the live colour", EXIT_FAILED)
    if ended and ended[-1].exit_code == REFUSED:
        _fail(ended[-1].reason, EXIT_REFUSED)
    sys.exit(EXIT_OK if status is Status.SUCCEEDED else code or EXIT_FAILED)


def _untested(project_dir: Path, pipeline_file: Path | None, phase: str | None):
    """The release stage's own rule, applied before anything moves: untested bytes are refused."""
    from cdtui.session import Session

    session = Session(project_dir, pipeline_file)
    session.load(check_secrets=False)
    found = session.release_phase(phase)
    if session.pipeline is None or found is None:
        return None
    from cdtui.stages.release import untested_refusal

    return untested_refusal(session.project_dir, session.pipeline, found[0])


@click.command()
@project_argument
@file_option
@phase_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Roll back even onto a colour that fails its check.")
@click.option(
    "--redeploy",
    is_flag=True,
    help="If the colour to roll back to is unhealthy, deploy it again first (what it last ran).",
)
def rollback(
    project_dir: Path,
    pipeline_file: Path | None,
    phase: str | None,
    yes: bool,
    force: bool,
    redeploy: bool,
) -> None:
    """Put all traffic back on the colour that was live before the latest release, at once.

    It works while another cdtui releases (that release is asked to abort), and refuses to move
    users onto a colour that fails its health check (--force, or --redeploy it first)."""
    from cdtui.session import Session

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    if not yes:
        click.confirm(
            f"Roll back: all traffic on the {spec.router.kind} router to the previous live colour?",
            abort=True,
        )
    session = Session(project_dir, pipeline_file)
    session.load(check_secrets=False)

    def show(event: Event) -> None:  # the rollback stage's log, as it is written
        if isinstance(event, StageOutput) and event.stage == "rollback":
            click.echo(event.text, nl=False, err=event.stream == "stderr")

    async def act():
        return await session.rollback(
            phase, via="cli", subscribers=[show], force=force, redeploy=redeploy
        )

    try:
        result = asyncio.run(_cancellable(act()))
    finally:
        session.close()
    if result.refusal is not None:
        fix = f"\n{result.refusal.fix}" if result.refusal.fix else ""
        _fail(f"{result.refusal.why}{fix}", EXIT_REFUSED)
    if not result.ok:
        _fail(result.reason, EXIT_FAILED)
    click.echo(result.reason)
    click.echo(f"logs: cdtui logs {result.run_id} rollback {project_dir}", err=True)


@click.command()
@project_argument
@file_option
@phase_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(project_dir: Path, pipeline_file: Path | None, phase: str | None, as_json: bool) -> None:
    """Split in force (from the router), health per colour, release state, last record.

    Exit 1 when something needs an operator: the router is down or differs from the record,
    the live colour is unhealthy, or a release is in progress with nobody driving it."""
    from cdtui.monitor.targets import keep_warm_facts
    from cdtui.session import Session

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    session = Session(project_dir, pipeline_file)
    session.load(check_secrets=False)
    report = asyncio.run(session.status(phase))
    warm = keep_warm_facts(spec, report)  # keep_warm: is rollback still instant?
    if as_json:
        import json

        click.echo(json.dumps({**report.as_dict(), "keep_warm": warm}))
    else:
        for line in report.lines():
            click.echo(line)
        click.echo(f"keep warm:  {warm['text']}")
    sys.exit(EXIT_FAILED if report.problems else EXIT_OK)
