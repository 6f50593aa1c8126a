"""``cdtui watch``: re-run a phase (Commit by default) on every save, printed as ``cdtui run
--headless`` prints, one run per change."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import click

from cdtui.commands.options import file_option, project_argument
from cdtui.commands.run import EXIT_CANCELLED, EXIT_USAGE, _quote, load_or_exit
from cdtui.config import ConfigError, format_errors
from cdtui.engine.plan import PlanError


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from cdtui.config.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@project_argument
@file_option
@click.option("--phase", "phase", default=None, help="The phase to re-run (default: Commit).")
@click.option(
    "--debounce",
    callback=_duration,
    default=None,
    help="Quiet period after a save before the run starts (default 100ms; watch: debounce:).",
)
@click.option("--poll", is_flag=True, help="Poll for changes instead of inotify (network disks).")
@click.option("--no-initial", is_flag=True, help="Wait for the first change before running.")
def watch(
    project_dir: Path,
    pipeline_file: Path | None,
    phase: str | None,
    debounce: float | None,
    poll: bool,
    no_initial: bool,
) -> None:
    """Run a phase on start and again whenever a file changes; a change mid-run restarts it.

    Ignores .git, cdtui's state, build outputs and what .gitignore ignores. Ctrl-C stops."""
    from cdtui.session import Session
    from cdtui.watch.loop import default_phase

    project_dir = project_dir.resolve()
    path, pipeline = load_or_exit(project_dir, pipeline_file)
    chosen = phase or default_phase(pipeline)
    session = Session(project_dir, pipeline_file)
    session.path, session.pipeline = path, pipeline
    try:
        plan = session.plan((chosen,))
    except PlanError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    gated = [p.name for p in plan.phases if p.phase.gate]
    if gated:
        click.echo(f"error: phase {gated[0]!r} is gated: a watch never approves one", err=True)
        sys.exit(EXIT_USAGE)
    os.chdir(project_dir)
    printer = WatchPrinter(session, chosen, project_dir)
    try:
        asyncio.run(printer.follow(debounce=debounce, poll=poll, initial=not no_initial))
    finally:
        session.close()
    sys.exit(EXIT_CANCELLED)


class WatchPrinter:
    """Starts each run with a fresh headless renderer and prints its summary when it ends."""

    def __init__(self, session, phase: str, project_dir: Path) -> None:
        from rich.console import Console

        self.session = session
        self.phase = phase
        self.project_dir = project_dir
        self.console = Console(highlight=False, soft_wrap=True)
        self.renderer = None

    def start(self, trigger):
        """A run of the phase through the front door, headed by what triggered it."""
        from cdtui.engine.engine import EngineOptions
        from cdtui.headless import HeadlessRenderer

        self.renderer = HeadlessRenderer()
        stamp = time.strftime("%H:%M:%S")
        how = "restart" if trigger.restart else "run"
        click.echo(f"━━ watch {stamp}: {trigger.describe()} → {how} {self.phase}")
        sys.stdout.flush()
        options = EngineOptions(jobs=os.cpu_count() or 2)
        selection = f"watch: {trigger.describe()}"
        try:
            plan = self.session.plan((self.phase,))
            return self.session.start(plan, [self.renderer], options=options, selection=selection)
        except (ConfigError, PlanError) as error:  # a secret unset, the phase renamed: say so
            errors = getattr(error, "errors", None)
            self.say("error", format_errors(errors) if errors else str(error))
            return None

    def finished(self, engine) -> None:
        """The run's summary, as ``cdtui run --headless`` ends, then back to watching."""
        if self.renderer is not None:
            self.renderer.summary()
        click.echo(f"logs: cdtui logs {engine.run_id} {_quote(self.project_dir)}", err=True)
        click.echo("watching for changes (Ctrl-C stops)", err=True)

    def say(self, level: str, text: str) -> None:
        style = {"error": "red", "warning": "yellow"}.get(level, "dim")
        from rich.markup import escape

        self.console.print(f"[{style}]watch: {escape(text)}[/]")

    async def follow(self, *, debounce: float | None, poll: bool, initial: bool) -> None:
        from cdtui.watch.loop import WatchLoop

        loop = WatchLoop(
            self.session,
            start=self.start,
            finished=self.finished,
            say=self.say,
            debounce=debounce,
            poll=poll or None,
            initial=initial,
        )
        running = asyncio.get_running_loop()

        def interrupt() -> None:
            """Once: stop (the run in progress is cancelled); again: skip its grace period."""
            if loop.stop.is_set() and self.session.engine is not None:
                self.session.engine.skip_grace()
            loop.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, interrupt)
        ticker = running.create_task(self._tick())
        if not initial:
            click.echo(f"watching {self.project_dir} for changes (Ctrl-C stops)", err=True)
        try:
            await loop.run()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self.session.bus.close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if self.renderer is not None:
                self.renderer.flush_partials()
            self.session.store.flush()
