"""``cdtui [DIR]``: open the console on a project."""

from __future__ import annotations

from pathlib import Path

import click

from cdtui.commands.options import file_option, project_argument


@click.command()
@project_argument
@file_option
@click.option(
    "--readonly",
    is_flag=True,
    help="Watch runs another cdtui drives; start, approve and cancel nothing.",
)
@click.option("--theme", default=None, help="Theme name (default: the last one chosen).")
def open_console(
    project_dir: Path, pipeline_file: Path | None, readonly: bool, theme: str | None
) -> None:
    """Open the console on DIR (default: the current directory)."""
    import os

    from cdtui.ui.app import CdtuiApp

    project_dir = project_dir.resolve()
    if not project_dir.is_dir():
        raise click.BadParameter(f"{project_dir} is not a directory", param_hint="DIR")
    if pipeline_file is not None:
        pipeline_file = pipeline_file.resolve()
    os.chdir(project_dir)  # stages spawn fastest in the directory they run in
    CdtuiApp(project_dir, pipeline_file, readonly=readonly, theme=theme, freeze_gc=True).run()
