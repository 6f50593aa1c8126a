"""``cdtui notify test|status``: try each sink of ``notify:`` now, or see what each has queued."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from cdtui.commands.options import file_option


def _notifier(project_dir: Path, pipeline_file: Path | None):  # -> Notifier
    from cdtui.commands.history import fail
    from cdtui.config import ConfigError, find_pipeline_file, format_errors, load_pipeline
    from cdtui.config.secrets import resolve_secrets
    from cdtui.notify.notifier import Notifier

    try:
        path = find_pipeline_file(project_dir, pipeline_file)
        pipeline = load_pipeline(path, check_secrets=False)
        secrets = resolve_secrets(pipeline, os.environ, file=str(path))
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        fail("fix the pipeline file first")
    return Notifier(pipeline, project_dir, secrets)


def _split(first: str | None, second: Path | None) -> tuple[str | None, Path]:
    """``test SINK DIR``, ``test DIR`` or ``test SINK``: a lone word that is a directory is DIR."""
    if second is not None:
        return first, second
    if first is not None and Path(first).is_dir():
        return None, Path(first)
    return first, Path(".")


@click.group()
def notify() -> None:
    """The sinks of the pipeline's notify: list."""


@notify.command("test")
@click.argument("sink", required=False)
@click.argument("project_dir", required=False, type=click.Path(path_type=Path))
@file_option
def test(sink: str | None, project_dir: Path | None, pipeline_file: Path | None) -> None:
    """Send one test message to each sink (or SINK) and print what it answered."""
    sink, project = _split(sink, project_dir)
    notifier = _notifier(project, pipeline_file)
    results = asyncio.run(notifier.test(sink))
    if not results:
        click.echo(f"no sink called {sink!r}" if sink else "no sinks in notify:", err=True)
        sys.exit(2)
    for name, kind, ok, answer in results:
        click.echo(f"{name} ({kind}): {'ok' if ok else 'FAILED'}: {answer}")
    sys.exit(0 if all(ok for *_, ok, _ in results) else 1)


@notify.command("status")
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@file_option
def status(project_dir: Path, pipeline_file: Path | None) -> None:
    """Per sink: events waiting in the outbox for it, and the last delivered id."""
    notifier = _notifier(project_dir, pipeline_file)
    count = notifier.log.count()
    click.echo(f"log (log): {count} event{'' if count == 1 else 's'} in {notifier.log.path}")
    for row in notifier.backlog():
        name, kind, queued, last_id, error = row
        said = f"{queued} queued" + (f", last delivered {last_id}" if last_id else "")
        click.echo(f"{name} ({kind}): {error or said}")
    notifier.close()
