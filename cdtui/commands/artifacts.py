"""``cdtui artifacts [RUN] [--json]``: what runs kept, with provenance and promotions; and
``cdtui artifacts gc [--keep N] [--dry-run]``: remove what nothing may deploy any more."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from cdtui.commands.history import fail

dir_option = click.option(
    "-C",
    "--dir",
    "project_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The project directory.",
)


def repository_of(project_dir: Path) -> Any:
    """The project's repository as its pipeline file configures it (local without one)."""
    from cdtui.artifacts.backends import open_repository
    from cdtui.config import ConfigError, find_pipeline_file, load_pipeline
    from cdtui.store.paths import state_dir

    if not project_dir.is_dir():
        fail(f"{project_dir} is not a directory")
    store = None
    try:
        path = find_pipeline_file(project_dir, None)
    except ConfigError:
        path = None
    if path is not None:
        try:
            store = load_pipeline(path, check_secrets=False).artifacts
        except ConfigError as error:
            from cdtui.config import format_errors

            click.echo(format_errors(error.errors), err=True)
            fail(f"{path} is not valid: fix it first")
    return open_repository(store, state_dir(project_dir))


class _ListOrGc(click.Group):
    """``artifacts gc`` is the subcommand; anything else is ``artifacts [RUN]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ListOrGc)
def artifacts() -> None:
    """List kept artifacts (name, size, sha256, built by, promoted to), or gc them."""


def _rows(project_dir: Path, run: int | None) -> list[dict[str, Any]]:
    from cdtui.artifacts.records import ArtifactRecords

    with ArtifactRecords(project_dir) as records:
        found = records.of_run(run) if run is not None else records.all()
        envs = records.environments()
        promoted: dict[int, list[str]] = {}
        for env, promotion in envs.items():
            promoted.setdefault(promotion.run_id, []).append(env)
    return [
        {
            "name": r.name,
            "path": r.path,
            "size": r.size,
            "sha256": r.sha256,
            "run": r.run_id,
            "phase": r.phase,
            "stage": r.stage,
            "attempt": r.attempt,
            "commit": r.git_commit,
            "location": r.location,
            "at": r.at,
            "promoted_to": sorted(promoted.get(r.run_id, [])),
        }
        for r in found
    ]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@artifacts.command("list")
@click.argument("run", required=False, type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@dir_option
def list_artifacts(run: int | None, as_json: bool, project_dir: Path) -> None:
    """Artifacts of RUN (default: all runs), newest last."""
    from cdtui.store import store_exists

    rows = _rows(project_dir, run) if store_exists(project_dir) else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No artifacts kept{f' by run {run}' if run else ''} in {project_dir}.")
        return
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["at"]))
        name = r["name"] or "-"
        promoted = f"  promoted to {', '.join(r['promoted_to'])}" if r["promoted_to"] else ""
        commit = f" @{r['commit'][:10]}" if r["commit"] else ""
        click.echo(
            f"{name:<12} {r['path']:<28} {_size(r['size']):>9}  sha256:{r['sha256'][:12]}  "
            f"run #{r['run']} {r['phase']}/{r['stage']}{commit} {when}  {r['location']}{promoted}"
        )


@artifacts.command("gc")
@click.option("--keep", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@dir_option
def gc(keep: int, dry_run: bool, project_dir: Path) -> None:
    """Remove stored bytes no run in the last KEEP and no environment or release names."""
    from cdtui.artifacts import gc as collector
    from cdtui.store import store_exists
    from cdtui.store.artifacts import ArtifactError

    repository = repository_of(project_dir)
    if not store_exists(project_dir):  # a read of nothing must not create a store
        click.echo(f"No artifacts kept in {project_dir}.")
        return
    try:
        planned = collector.plan(project_dir, repository, keep)
        verb = "would remove" if dry_run else "removed"
        for digest in planned.remove:
            click.echo(f"{verb} sha256:{digest} from {repository.location}")
        for key in planned.stale_incoming:
            click.echo(f"{verb} {key} (left by an interrupted upload)")
        if not dry_run:
            collector.collect(project_dir, repository, planned)
    except ArtifactError as error:
        fail(str(error))
    click.echo(f"kept {len(planned.kept)}, {verb} {len(planned.remove)}")
