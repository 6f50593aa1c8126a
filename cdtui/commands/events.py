"""``cdtui events``: the project's event log (the notifier's outbox), as lines or raw JSON.

Reads only the file, so it works beside a running console; ``--follow`` polls for appends.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cdtui.commands.options import file_option, project_argument

POLL = 0.2


def event_log_path(project_dir: Path, pipeline_file: Path | None) -> Path:
    """``{log: PATH}`` of the pipeline when it loads, else the default under the state dir."""
    from cdtui.config import ConfigError, find_pipeline_file, load_pipeline
    from cdtui.notify.notifier import log_path
    from cdtui.store.paths import state_dir

    try:
        pipeline = load_pipeline(
            find_pipeline_file(project_dir, pipeline_file), check_secrets=False
        )
    except ConfigError:
        return state_dir(project_dir) / "events.jsonl"
    return log_path(pipeline, project_dir)


def describe(p: dict[str, Any]) -> str:
    """One event as an operator reads it: time, run, kind, where, status, the rest."""
    stamp = datetime.fromtimestamp(float(p.get("at", 0))).strftime("%Y-%m-%d %H:%M:%S")
    where = "/".join(str(p[k]) for k in ("phase", "stage") if p.get(k))
    words = [stamp, f"run {p.get('run')}", str(p.get("kind")), where, str(p.get("status", ""))]
    for key in ("state", "text", "reason", "commit"):
        if p.get(key):
            words.append(str(p[key]))
    return " ".join(w for w in words if w)


@click.command()
@project_argument
@file_option
@click.option("--follow", is_flag=True, help="Keep printing events as they are appended.")
@click.option("--json", "as_json", is_flag=True, help="The raw JSON lines, for scripts.")
@click.option("-n", "--last", type=click.IntRange(min=1), help="Only the last N events.")
def events(
    project_dir: Path, pipeline_file: Path | None, follow: bool, as_json: bool, last: int | None
) -> None:
    """Print the event log of the project in DIR (default: the current directory)."""
    path = event_log_path(project_dir, pipeline_file)
    if not path.exists() and not follow:
        click.echo(f"no events yet ({path} does not exist)", err=True)
        return
    offset = 0
    lines: list[bytes] = []
    if path.exists():
        data = path.read_bytes()
        offset = data.rfind(b"\n") + 1
        lines = data[:offset].splitlines()
        if last is not None:
            lines = lines[-last:]
    _print(lines, as_json)
    while follow:
        time.sleep(POLL)
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            continue
        end = data.rfind(b"\n") + 1
        offset += end
        _print(data[:end].splitlines(), as_json)


def _print(lines: list[bytes], as_json: bool) -> None:
    for line in lines:
        if as_json:
            click.echo(line.decode(errors="replace"))
            continue
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        if isinstance(payload, dict):
            click.echo(describe(payload))
