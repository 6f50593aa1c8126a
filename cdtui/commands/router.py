"""``cdtui router serve|status|stop [DIR]``: the embedded router process, and any router's weights.

The embedded router runs as its own process so traffic keeps flowing when the console or a CLI
exits; ``status`` also reads HAProxy and ALB routers through their drivers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from cdtui.commands.options import file_option, project_argument
from cdtui.config import ConfigError, LocatedError, find_pipeline_file, format_errors
from cdtui.config.release import ReleaseSpec
from cdtui.release.routers.base import Router, RouterError, RouterUnreachable

EXIT_OK, EXIT_DOWN, EXIT_USAGE = 0, 1, 2

phase_option = click.option(
    "--phase", help="The release phase to use when several phases have a release block."
)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load_release(project_dir: Path, pipeline_file: Path | None, phase: str | None) -> ReleaseSpec:
    """The release block to route for, from the pipeline file; ConfigError when there is none."""
    from cdtui.config.models import Phase

    path = find_pipeline_file(project_dir, pipeline_file)
    if "release" in Phase.model_fields:
        from cdtui.config import load_pipeline

        pipeline = load_pipeline(path, check_secrets=False)
        found = {p.name: p.release for p in pipeline.phases if getattr(p, "release", None)}
    else:
        found = _raw_release_blocks(path)
    if phase is not None:
        if phase not in found:
            names = ", ".join(found) or "none"
            raise _error(path, f"no release block in a phase named {phase!r} (have: {names})")
        return found[phase]
    if len(found) != 1:
        message = "no phase has a release: block" if not found else "several phases have one"
        hint = (
            "add release: to a phase"
            if not found
            else f"pick one with --phase ({', '.join(found)})"
        )
        raise _error(path, message, hint)
    return next(iter(found.values()))


def _raw_release_blocks(path: Path) -> dict[str, ReleaseSpec]:
    """Until Phase carries ``release``: validate each phase's raw release block on its own."""
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _error(path, f"cannot read the pipeline: {exc}") from None
    phases = data.get("phases") if isinstance(data, dict) else None
    found: dict[str, ReleaseSpec] = {}
    errors: list[LocatedError] = []
    for index, raw in enumerate(phases if isinstance(phases, list) else []):
        if isinstance(raw, dict) and "release" in raw:
            try:
                found[str(raw.get("name", index))] = ReleaseSpec.model_validate(raw["release"])
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(part) for part in ("release", *err["loc"]))
                    message = err["msg"].removeprefix("Value error, ")
                    errors.append(
                        LocatedError(str(path), 0, 0, f"phases[{index}].{where}", message)
                    )
    if errors:
        raise ConfigError(errors)
    return found


def _error(path: Path, message: str, hint: str = "") -> ConfigError:
    return ConfigError([LocatedError(str(path), 0, 0, "phases", message, hint)])


def _spec_or_exit(project_dir: Path, pipeline_file: Path | None, phase: str | None) -> ReleaseSpec:
    try:
        return load_release(project_dir, pipeline_file, phase)
    except ConfigError as error:
        click.echo(format_errors(error.errors), err=True)
        sys.exit(EXIT_USAGE)


@click.group()
def router() -> None:
    """Run the embedded router, read any router's weights, stop it."""


@router.command()
@project_argument
@file_option
@phase_option
@click.option("--detach", is_flag=True, help="Run in the background; return once it listens.")
def serve(project_dir: Path, pipeline_file: Path | None, phase: str | None, detach: bool) -> None:
    """Run the embedded router for DIR's release block (foreground unless --detach)."""
    from cdtui.release.routers.daemon import run_foreground, start_detached
    from cdtui.release.routers.files import RouterPaths

    spec = _spec_or_exit(project_dir, pipeline_file, phase)
    if spec.router.kind != "embedded":
        _fail(
            f"the release router is {spec.router.kind}: cdtui serves only the embedded router; "
            f"`cdtui router status {project_dir}` reads its weights"
        )
    paths = RouterPaths.of(project_dir)
    if not detach:
        sys.exit(run_foreground(spec, paths, str(project_dir)))
    try:
        pid, listen = start_detached(spec, paths, str(project_dir))
    except RouterError as exc:
        _fail(str(exc), EXIT_DOWN)
    click.echo(f"cdtui router listening on {listen} (pid {pid}); log: {paths.log}")


@router.command()
@project_argument
@file_option
@phase_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(project_dir: Path, pipeline_file: Path | None, phase: str | None, as_json: bool) -> None:
    """Listen address, pid, weights in force and backends. Exit 1 when the router is down."""
    from cdtui.release.routers import make_router
    from cdtui.release.routers.embedded import EmbeddedRouter
    from cdtui.store.paths import state_dir

    driver: Router
    try:
        spec = load_release(project_dir, pipeline_file, phase)
        driver = make_router(spec.router, project_dir)
    except ConfigError as error:
        if not (state_dir(project_dir) / "router").is_dir():
            click.echo(format_errors(error.errors), err=True)
            sys.exit(EXIT_USAGE)
        driver = EmbeddedRouter(project_dir)  # a router left running answers without its config
    try:
        facts = asyncio.run(_describe(driver))
    except RouterError as exc:
        if as_json:
            click.echo(json.dumps({"running": False, "error": str(exc)}))
        _fail(str(exc), EXIT_DOWN)
    if as_json:
        click.echo(json.dumps({"running": True, **facts}))
        return
    width = max(map(len, facts)) + 1
    for key, value in facts.items():
        click.echo(f"{key + ':':<{width}} {value}")


async def _describe(driver: Router) -> dict[str, Any]:
    try:
        return await driver.describe()
    finally:
        await driver.close()


@router.command()
@project_argument
@click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait for the exit.")
def stop(project_dir: Path, timeout: float) -> None:
    """Stop DIR's embedded router: requests in flight finish first."""
    from cdtui.release.routers.daemon import clear_stale
    from cdtui.release.routers.embedded import EmbeddedRouter
    from cdtui.release.routers.files import pid_alive

    driver = EmbeddedRouter(project_dir)
    try:
        pid = asyncio.run(driver.stop())
    except RouterUnreachable as exc:
        if pid_alive(driver.paths.read_pid()):
            _fail(str(exc), EXIT_DOWN)
        note = clear_stale(driver.paths, str(project_dir)) if driver.paths.dir.is_dir() else ""
        click.echo(
            f"no embedded router is running for {project_dir}" + (f" ({note})" if note else "")
        )
        return
    except RouterError as exc:
        _fail(str(exc), EXIT_DOWN)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            _fail(f"the router (pid {pid}) did not exit within {timeout:g}s: kill {pid}", EXIT_DOWN)
        time.sleep(0.05)
    click.echo(f"stopped the embedded router for {project_dir}" + (f" (pid {pid})" if pid else ""))


if __name__ == "__main__":
    router()
