"""``cdtui monitor [DIR]``: watch production headless, forever, for a service manager.

One line per state change on stdout (a check's outcome, an alert firing or resolving, an action
taken). SIGTERM or SIGINT stops it cleanly: an action in flight gets a moment to finish, state is
written. Exit codes: 0 stopped, 1 crashed, 2 bad input (the pipeline file, nothing to watch),
4 another monitor already watches this project (it never runs twice).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from cdtui.commands.options import file_option, project_argument

EXIT_OK, EXIT_CRASHED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 4


@click.command()
@project_argument
@file_option
def monitor(project_dir: Path, pipeline_file: Path | None) -> None:
    """Check production continuously, fire alerts and act on them (rollback, recover, run)."""
    from cdtui.commands.run import load_or_exit
    from cdtui.monitor.build import NoMonitor
    from cdtui.monitor.state import MonitorBusy
    from cdtui.session import Session

    load_or_exit(project_dir.resolve(), pipeline_file, check_secrets=True)
    session = Session(project_dir, pipeline_file)
    session.load()

    def say(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    async def watch() -> None:
        service = session.monitor(say=say)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, service.stop)
        await service.run()

    try:
        asyncio.run(watch())
    except NoMonitor as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except MonitorBusy as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_BUSY)
    finally:
        session.close()
    sys.exit(EXIT_OK)
