"""``cdtui promote RUN ENV``: ENV deploys RUN's artifacts from now on (a stage's ``from: ENV``).

One metadata write, compare-and-swap: it lands only if ENV still points where it did when this
command looked (or where ``--expect`` says), so two promotions cannot cross.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from cdtui.commands.artifacts import dir_option
from cdtui.commands.history import fail

ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@click.command()
@click.argument("run", type=int)
@click.argument("env")
@click.option("--expect", type=int, help="Fail unless ENV currently points at this run.")
@dir_option
def promote(run: int, env: str, expect: int | None, project_dir: Path) -> None:
    """Point environment ENV at run RUN's artifacts."""
    from cdtui.artifacts.records import ArtifactRecords, PromotionConflict, who_am_i
    from cdtui.store import store_exists

    if not ENV_NAME.match(env) or env.isdigit():
        fail(f"{env!r} is not an environment name (letters, digits, . _ -; not a number)")
    if not store_exists(project_dir):
        fail(f"no runs recorded in {project_dir}")
    with ArtifactRecords(project_dir) as records:
        kept = records.of_run(run)
        if not kept:
            fail(f"run #{run} kept no artifacts: nothing to promote (see `cdtui artifacts`)")
        seen = records.current(env)
        expected = expect if expect is not None else (seen.run_id if seen else None)
        try:
            done = records.promote(env, run, who_am_i(), expected)
        except PromotionConflict as error:
            fail(str(error))
    was = f" (was run #{done.previous})" if done.previous is not None else ""
    names = ", ".join(r.name or r.path for r in kept)
    click.echo(f"{env} -> run #{run}{was}: {names}")
