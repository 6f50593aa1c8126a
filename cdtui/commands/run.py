"""``cdtui run`` and ``cdtui validate``: the pipeline headless, for CI and for a quick check."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from cdtui.commands.options import file_option, project_argument
from cdtui.config import ConfigError, find_pipeline_file, format_errors, load_pipeline
from cdtui.engine.events import Status

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED, EXIT_CANCELLED = 0, 1, 2, 3, 130
EXIT_CODES = {
    Status.SUCCEEDED: EXIT_OK,
    Status.BLOCKED: EXIT_BLOCKED,
    Status.CANCELLED: EXIT_CANCELLED,
}


def load_or_exit(project_dir: Path, pipeline_file: Path | None, check_secrets: bool = True):
    """Load the pipeline or print every located error and exit 2 (never a traceback)."""
    try:
        path = find_pipeline_file(project_dir, pipeline_file)
        return path, load_pipeline(path, check_secrets=check_secrets)
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        _annotate(error.errors)
        sys.exit(EXIT_USAGE)


def _annotate(errors) -> None:
    """Inside GitHub Actions, located errors also become annotations on the file's lines."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from cdtui.ci.annotations import config_errors

        config_errors(errors)


@click.command()
@project_argument
@file_option
def validate(project_dir: Path, pipeline_file: Path | None) -> None:
    """Check the pipeline file; print every error with file:line:col. Exit 1 on error."""
    try:
        path = find_pipeline_file(project_dir, pipeline_file)
        pipeline = load_pipeline(path)
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        sys.exit(EXIT_FAILED)
    stages = sum(len(p.stages) for p in pipeline.phases)
    click.echo(f"{path}: valid ({len(pipeline.phases)} phases, {stages} stages)")


@click.command()
@project_argument
@file_option
@click.option(
    "--headless",
    is_flag=True,
    help="Print to the terminal instead of opening the console (implied without a terminal).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; run nothing.")
@click.option("--phase", "phases", multiple=True, help="Run only this phase (repeatable).")
@click.option(
    "--stage",
    "stages",
    multiple=True,
    help="Run this stage and what it needs: NAME or PHASE/NAME (repeatable).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=None,
    help="CPU units for stages at once (default: CPU count; resources: {cpu: N} takes N).",
)
@click.option(
    "--approve", "approve", multiple=True, help="Approve this gated phase up front (repeatable)."
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JUnit XML report: a testcase per stage, matrix leg and step.",
)
@click.option(
    "--events",
    "events",
    metavar="FILE|-",
    help="Write every event as a JSON line to FILE (- for stdout; the log then goes to stderr).",
)
@click.option("--plain", is_flag=True, help="No colour in the output (for logs and CI).")
def run(
    project_dir: Path,
    pipeline_file: Path | None,
    headless: bool,
    dry_run: bool,
    phases: tuple[str, ...],
    stages: tuple[str, ...],
    jobs: int | None,
    approve: tuple[str, ...],
    junit: Path | None,
    events: str | None,
    plain: bool,
) -> None:
    """Run the pipeline. Exit 0 when every required stage succeeded.

    Exit codes: 1 failed, 2 bad input, 3 stopped at a gate nobody approved, 130 cancelled.
    """
    from cdtui.engine.plan import PlanError, make_plan

    project_dir = project_dir.resolve()
    path, pipeline = load_or_exit(project_dir, pipeline_file, check_secrets=not dry_run)
    try:
        plan = make_plan(pipeline, phases, stages)
    except PlanError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    jobs = jobs or os.cpu_count() or 2
    if dry_run:
        from cdtui.plan_view import print_plan

        print_plan(pipeline, plan, str(path), jobs, Console(highlight=False, soft_wrap=True))
        return
    ci_asked = junit is not None or events is not None or plain
    # Report paths are the caller's (relative to where cdtui was started), not the project's.
    junit = junit.resolve() if junit is not None else None
    events = str(Path(events).resolve()) if events not in (None, "-") else events
    if not headless and not ci_asked and sys.stdout.isatty() and sys.stdin.isatty():
        from cdtui.ui.app import CdtuiApp

        os.chdir(project_dir)
        CdtuiApp(project_dir, path, autostart=(phases, stages), freeze_gc=True).run()
        return
    hint = f"cdtui logs {{run_id}} {_quote(project_dir)}"
    os.chdir(project_dir)  # stages spawn fastest in the directory they run in
    code, _ = run_headless(
        project_dir,
        pipeline,
        plan,
        jobs=jobs,
        approve=approve,
        hint=hint,
        hint_file=str(path),
        report=CiOptions(junit, events, plain),
    )
    sys.exit(code)


@dataclass(frozen=True)
class CiOptions:
    """What ``cdtui run`` writes for the CI around it (``cdtui.ci``)."""

    junit: Path | None = None
    events: str | None = None
    plain: bool = False


def run_headless(
    project_dir,
    pipeline,
    plan,
    *,
    jobs: int,
    approve: tuple[str, ...],
    hint: str = "",
    hint_file: str = "cdtui.yaml",
    overrides: dict | None = None,
    observers: tuple = (),
    selection: str | None = None,
    report: CiOptions | None = None,
) -> tuple[int, Status]:
    """The plan through the front door, printed as it runs; (exit code, run status)."""
    from cdtui.config import resolve_secrets
    from cdtui.engine.engine import EngineOptions
    from cdtui.headless import HeadlessRenderer
    from cdtui.session import Session

    try:
        resolve_secrets(pipeline, os.environ, file=hint_file)
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        _annotate(error.errors)
        return EXIT_USAGE, Status.FAILED
    session = Session(project_dir)
    session.path, session.pipeline = Path(hint_file), pipeline
    options = EngineOptions(jobs=jobs, approve=frozenset(approve), overrides=overrides or {})
    report = report or CiOptions()
    out = sys.stderr if report.events == "-" else sys.stdout
    renderer = HeadlessRenderer(out, color=False if report.plain else None)
    display, reporters = ci_observers(renderer, report, pipeline.project, hint_file)
    selection = " ".join(sys.argv[1:]) if selection is None else selection
    try:
        status, run_id = asyncio.run(
            _drive(session, plan, options, selection, [display, *reporters, *observers], display)
        )
    finally:
        session.close()
        for reporter in reporters:
            getattr(reporter, "close", lambda: None)()
    renderer.summary()
    if status is Status.BLOCKED:
        gates = ", ".join(repr(p.name) for p in plan.phases if p.phase.gate == "confirm")
        click.echo(f"stopped at a gate: approve with --approve (gated: {gates})", err=True)
    click.echo("logs: " + (hint or "cdtui logs {run_id}").format(run_id=run_id), err=True)
    return EXIT_CODES.get(status, EXIT_FAILED), status


async def _drive(session, plan, options, selection, observers, renderer) -> tuple[Status, int]:
    """Run the plan with Ctrl-C as a clean cancel and a timer for partial lines."""
    loop = asyncio.get_running_loop()
    presses = 0
    engine = session.start(plan, observers, options=options, selection=selection)
    store = session.store

    def interrupt(signame: str) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print(
                f"\n{signame}: cancelling the run (again to skip the grace period)", file=sys.stderr
            )
            engine.cancel(f"cancelled by {signame}")
        else:
            engine.skip_grace()

    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        loop.add_signal_handler(sig, interrupt, name)

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.25)
            renderer.flush_partials()
            store.flush()

    ticker = asyncio.create_task(tick())
    try:
        return await session.task, engine.run_id
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await session.bus.close()


def ci_observers(
    renderer, report: CiOptions, project: str, pipeline_file: str = ""
) -> tuple[object, list]:
    """The display (grouped per stage inside a CI service) and the reports asked for."""
    from cdtui.ci import ci_service

    service = ci_service(os.environ)
    display = renderer
    reporters: list = []
    if service:
        from cdtui.ci.groups import GroupedRenderer

        beside = []
        if service == "github":  # annotations in order with the lines: in their stage's group
            from cdtui.ci.annotations import GitHubReporter

            beside.append(GitHubReporter(renderer.out, pipeline_file=pipeline_file))
        display = GroupedRenderer(renderer, renderer.out, service, beside)
    if report.junit is not None:
        from cdtui.ci.junit import JUnitReport

        reporters.append(JUnitReport(report.junit, project))
    if report.events is not None:
        from cdtui.ci.events_out import EventLines

        reporters.append(EventLines(report.events))
    return display, reporters


def _quote(path: Path) -> str:
    import shlex

    here = Path.cwd()
    try:
        return shlex.quote(str(path.relative_to(here)) or ".")
    except ValueError:
        return shlex.quote(str(path))
