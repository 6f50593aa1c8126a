"""``cdtui history``: recent runs from the store, as a table or JSON for scripts."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cdtui.engine.events import Status
from cdtui.store import Orphan, RunStore, RunSummary, StoreError, store_exists

EXIT_USAGE = 2
STATUS_STYLES = {
    Status.PENDING: "dim",
    Status.WAITING: "bold yellow",
    Status.RUNNING: "bold cyan",
    Status.SUCCEEDED: "green",
    Status.FAILED: "bold red",
    Status.TIMED_OUT: "bold red",
    Status.CANCELLED: "magenta",
    Status.SKIPPED: "dim",
    Status.BLOCKED: "yellow",
    Status.INTERRUPTED: "bold magenta",
}

STAGE_LABELS = {Status.SUCCEEDED: "ok", Status.TIMED_OUT: "timeout"}


def fail(message: str) -> NoReturn:
    """One line an operator can act on, exit 2, never a traceback."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def open_store(project_dir: Path) -> RunStore | None:
    """The project's store with dead drivers' runs marked, or None if it has never run here."""
    if not project_dir.is_dir():
        fail(f"{project_dir} is not a directory")
    if not store_exists(project_dir):
        return None
    try:
        store = RunStore(project_dir)
        store.mark_interrupted()
    except (StoreError, OSError) as error:
        fail(f"cannot open the run store in {project_dir}: {error}")
    return store


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _counts(run: RunSummary) -> Text:
    text = Text()
    for status in Status:
        if n := run.counts.get(status.value):
            if text:
                text.append(" ")
            text.append(
                f"{n} {STAGE_LABELS.get(status, status.value.lower())}", STATUS_STYLES[status]
            )
    return text


def _table(runs: list[RunSummary], now: float) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, kwargs in (
        ("run", {"justify": "right"}),
        ("status", {}),
        ("started", {"no_wrap": True}),
        ("took", {"justify": "right"}),
        ("user", {}),
        ("stages", {"no_wrap": True}),
        ("note", {"overflow": "fold"}),
    ):
        table.add_column(name, **kwargs)
    for run in runs:
        took = format_duration(run.duration if run.duration is not None else now - run.started)
        table.add_row(
            str(run.id),
            Text(run.status.value, STATUS_STYLES[run.status]),
            datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M"),
            took if run.finished is not None else f"{took}…",
            run.user,
            _counts(run),
            Text(run.reason, "dim"),
        )
    return table


def _as_json(run: RunSummary) -> dict[str, object]:
    return {
        "id": run.id,
        "project": run.project,
        "status": run.status.value,
        "started": run.started,
        "finished": run.finished,
        "duration": run.duration,
        "user": run.user,
        "selection": run.selection,
        "stages": run.counts,
        "reason": run.reason,
    }


@click.command()
@click.argument("project_dir", default=".", type=click.Path(path_type=Path))
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.option(
    "--end-orphans",
    is_flag=True,
    help="End the processes interrupted runs left alive (SIGTERM, SIGKILL after 2 s).",
)
def history(project_dir: Path, limit: int, as_json: bool, end_orphans: bool) -> None:
    """Recent runs, newest first. Runs whose cdtui process died show as INTERRUPTED; processes
    their stages left alive are named (on stderr), and ``--end-orphans`` ends them."""
    store = open_store(project_dir)
    runs: list[RunSummary] = []
    left: list[Orphan] = []
    if store is not None:
        with store:
            runs = store.recent_runs(limit)
            left = store.orphans()
            if end_orphans and left:
                _end(store, left)
                left = []
    if as_json:
        click.echo(json.dumps([_as_json(run) for run in runs], indent=2))
    elif not runs:
        click.echo(f"No runs recorded in {project_dir} yet.")
    else:
        Console(highlight=False).print(_table(runs, time.time()))
    if left:
        click.echo(f"{len(left)} process(es) of interrupted runs still alive:", err=True)
        for orphan in left:
            click.echo(f"  {orphan.describe()}", err=True)
        click.echo("End them with: cdtui history --end-orphans", err=True)


def _end(store: RunStore, left: list[Orphan]) -> None:
    survivors = store.end_orphans(left)
    for orphan in left:
        verb = "survived SIGKILL:" if orphan.pid in survivors else "ended"
        click.echo(f"{verb} {orphan.describe()}", err=True)
    if survivors:
        sys.exit(1)
