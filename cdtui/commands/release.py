"""``cdtui release|rollback|status [DIR]``: drive a blue/green release from a shell.

Thin over ``cdtui.release.control``; each action is recorded as a run in DIR/.cdtui, so
``cdtui history`` lists it beside pipeline runs.
"""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from cdtui.commands.options import file_option, project_argument
from cdtui.commands.router import _spec_or_exit, phase_option
from cdtui.config.release import ReleaseSpec
from cdtui.engine.events import Event, RunFinished, RunStarted, Status

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
        raise click.BadParameter(f"{value!r}: expected green percentages like 10,50,100") from None
    try:
        urls = {"blue": {"url": "http://blue"}, "green": {"url": "http://green"}}
        ReleaseSpec.model_validate({**urls, "steps": steps})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(f"{value!r}: {message}") from None
    return steps


def _print(event: Event) -> None:
    from cdtui.release.events import HealthSampled, ReleaseStateChanged, WeightChanged

    clock = time.strftime("%H:%M:%S", time.localtime(event.at))
    if isinstance(event, ReleaseStateChanged):
        click.echo(f"{clock} {event.state:<11} {event.step:>3}%  {event.reason}")
    elif isinstance(event, WeightChanged) and event.applied:
        click.echo(f"{clock} weights     blue {event.blue}% / green {event.green}%")
    elif isinstance(event, HealthSampled) and not event.ok:
        click.echo(f"{clock} unhealthy   {event.colour}: {event.error}", err=True)


def _as_run(project_dir: Path, what: str, action: Callable[[int], Awaitable[T]]) -> T:
    """Run ``action(run_id)`` recorded as a run in DIR's store; Ctrl-C and SIGTERM cancel it."""
    from cdtui.store import RunStore

    with RunStore(project_dir) as store:
        user = getpass.getuser()
        run_id = store.begin_run(project_dir.resolve().name, user, what)
        store.record(RunStarted(run_id, time.time(), project_dir.resolve().name, (what,), user))
        status, reason = Status.FAILED, ""
        try:
            result = asyncio.run(_cancellable(action(run_id)))
            status = Status.SUCCEEDED
            return result
        except (KeyboardInterrupt, asyncio.CancelledError):
            status, reason = Status.CANCELLED, "interrupted"
            raise
        except Exception as exc:
            reason = str(exc)
            raise
        finally:
            store.record(RunFinished(run_id, time.time(), status, reason))


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
@click.option("--steps", help="Green percentages instead of the pipeline's, e.g. 10,50,100.")
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
    """Shift traffic from the live colour to the idle one in steps, watching health."""
    from cdtui.release.control import locked, prepare
    from cdtui.release.rollout import ReleaseError, State
    from cdtui.release.routers import RouterError
    from cdtui.store.releases import ReleaseLocked

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    chosen = _parse_steps(steps)
    refusal = _untested(project_dir, pipeline_file, phase)
    if refusal is not None:
        _fail(f"{refusal.title}: {refusal.why}.\n{refusal.fix}")
    if not yes:
        shown = ", ".join(map(str, chosen or spec.effective_steps))
        click.confirm(f"Release on the {spec.router.kind} router in steps {shown}%?", abort=True)

    async def act(run_id: int) -> State:
        async with locked(spec, project_dir) as handle:
            rollout, note = await prepare(
                handle, run_id=run_id, reconcile=reconcile, steps=chosen, emit=_print
            )
            if note:
                click.echo(f"note: {note}")
            state = (await rollout.run()).state
        if state is State.DONE:
            from cdtui.release.context import record_released_commit

            record_released_commit(project_dir)
        return state

    try:
        state = _as_run(project_dir, "release", act)
    except (ReleaseError, ReleaseLocked, RouterError) as exc:
        _fail(str(exc), EXIT_REFUSED if not isinstance(exc, RouterError) else EXIT_FAILED)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _fail("interrupted: all traffic was given back to the live colour", EXIT_FAILED)
    sys.exit(EXIT_OK if state is State.DONE else EXIT_FAILED)


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
def rollback(project_dir: Path, pipeline_file: Path | None, phase: str | None, yes: bool) -> None:
    """Put all traffic back on the colour that was live before the latest release, at once."""
    from cdtui.session import Session

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    if not yes:
        click.confirm(
            f"Roll back: all traffic on the {spec.router.kind} router to the previous live colour?",
            abort=True,
        )
    session = Session(project_dir, pipeline_file)
    session.load(check_secrets=False)
    printed: list[Event] = []

    def show(event: Event) -> None:
        printed.append(event)
        _print(event)

    async def act():
        return await session.rollback(phase, via="cli", subscribers=[show])

    try:
        result = asyncio.run(_cancellable(act()))
    finally:
        session.close()
    if result.refusal is not None:
        _fail(f"{result.refusal.why}: {result.refusal.fix}", EXIT_FAILED)
    if not result.ok:
        _fail(result.reason, EXIT_FAILED)
    shown = {type(e).__name__ for e in printed} - {"RunStarted", "RunFinished"}
    if not shown:  # "already all on ...": nothing else was said
        click.echo(result.reason)


@click.command()
@project_argument
@file_option
@phase_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(project_dir: Path, pipeline_file: Path | None, phase: str | None, as_json: bool) -> None:
    """Split in force (from the router), health per colour, release state, last record.

    Exit 1 when the router is down or differs from the record."""
    from cdtui.release.control import status as read_status

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    report = asyncio.run(read_status(spec, project_dir))
    if as_json:
        import json

        click.echo(json.dumps(report.as_dict()))
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(EXIT_FAILED if report.router_error or report.difference else EXIT_OK)
