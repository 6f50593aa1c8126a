"""Click parameters shared by commands; importing this costs nothing beyond click."""

from __future__ import annotations

from pathlib import Path

import click

project_argument = click.argument(
    "project_dir", default=".", type=click.Path(file_okay=False, path_type=Path)
)
file_option = click.option(
    "-f",
    "--file",
    "pipeline_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pipeline file (default: DIR/cdtui.yaml).",
)
