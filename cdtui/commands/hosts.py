"""``cdtui hosts trust HOST``: record a host's key after the operator has seen its fingerprint.

The pool never trusts on first use; this command is the one place a key gets added, and it
never replaces a recorded key (a changed key is for a human to investigate).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from cdtui.commands.history import fail

project_argument = click.argument(
    "project_dir", default=".", type=click.Path(file_okay=False, path_type=Path)
)


@click.group()
def hosts() -> None:
    """Remote hosts of the pipeline: check and record their SSH host keys."""


@hosts.command()
@click.argument("host_name", metavar="HOST")
@project_argument
@click.option(
    "-f",
    "--file",
    "pipeline_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pipeline file (default: DIR/cdtui.yaml).",
)
@click.option("--yes", is_flag=True, help="Record the key without asking.")
def trust(host_name: str, project_dir: Path, pipeline_file: Path | None, yes: bool) -> None:
    """Fetch HOST's key, show its SHA256 fingerprint and add it to the host's known_hosts."""
    from cdtui.config import ConfigError, find_pipeline_file, format_errors, load_pipeline
    from cdtui.runners import ssh_keys
    from cdtui.runners.ssh import SshError, SshPool, fetch_host_key

    try:
        path = find_pipeline_file(project_dir, pipeline_file)
        pipeline = load_pipeline(path, check_secrets=False)
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        sys.exit(2)
    host = pipeline.hosts.get(host_name)
    if host is None:
        names = ", ".join(sorted(pipeline.hosts)) or "none"
        fail(f"no host {host_name!r} in {path} (hosts: {names})")
    base_dir = path.parent
    known_hosts = ssh_keys.known_hosts_file(host, base_dir)

    async def fetch():
        pool = SshPool(pipeline.hosts, base_dir=base_dir)
        try:
            return await fetch_host_key(host_name, host, pool)
        finally:
            await pool.close()

    try:
        key = asyncio.run(fetch())
    except SshError as error:
        fail(str(error))
    key_type, fingerprint = ssh_keys.describe_key(key)
    entry = ssh_keys.host_entry(host.address, host.port)
    recorded = ssh_keys.recorded_keys(known_hosts, host.address, host.port)
    if any(k == key for _, k in recorded):
        line = next(n for n, k in recorded if k == key)
        click.echo(f"{host_name} ({entry}) is already trusted: {known_hosts}:{line}")
        return
    if recorded:
        line = recorded[0][0]
        fail(
            f"{known_hosts}:{line} records another key for {host_name} ({entry}), but it now "
            f"offers {key_type} {fingerprint}. Not replaced: find out why the key changed; "
            f"if the host was reinstalled, delete line {line} and run this again"
        )
    click.echo(f"{host_name} ({entry}) offers a {key_type} key, fingerprint {fingerprint}")
    if not yes and not click.confirm(f"Trust it and add it to {known_hosts}?", default=False):
        fail("not trusted; nothing written")
    line = ssh_keys.append_key(known_hosts, host.address, host.port, key)
    click.echo(f"added {entry} to {known_hosts}:{line}")
