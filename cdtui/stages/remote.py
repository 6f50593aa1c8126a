"""Stages with ``on:`` hosts: one attempt fanned out over SSH, in parallel or rolling batches.

asyncssh loads only here, and only when a run reaches its first remote stage.
"""

from __future__ import annotations

import asyncio
import glob
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.config.models import shown_command
from cdtui.engine.events import Status
from cdtui.engine.interpolate import InterpolationError
from cdtui.runners.local import ProcessResult
from cdtui.stages.context import StageContext

if TYPE_CHECKING:
    from cdtui.runners.ssh import SshPool
    from cdtui.runners.ssh_process import RemoteProcess


class HostGroup:
    """The processes of one fanned-out attempt; cancelling it cancels every host."""

    def __init__(self) -> None:
        self.processes: list[RemoteProcess] = []
        self.cancelled = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.cancelled = reason
        for process in self.processes:
            process.cancel(reason)

    @property
    def grace(self) -> float:
        return min((p.grace for p in self.processes), default=0.0)

    @grace.setter
    def grace(self, value: float) -> None:
        for process in self.processes:
            process.grace = value


def upload_files(project_dir: Path, patterns: list[str]) -> list[Path]:
    """Project files matched by ``upload:`` globs; a match whose real path leaves the project
    (absolute, ``..``, a symlink out) is refused with its path, never sent."""
    from cdtui.store.artifacts import outside_project

    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, root_dir=project_dir, recursive=True))
        if not matches:
            raise FileNotFoundError(f"upload: nothing matches {pattern!r} in {project_dir}")
        for match in (project_dir / m for m in matches):
            if (real := outside_project(match, project_dir)) is not None:
                raise PermissionError(
                    f"upload: {match} resolves to {real}, outside the project: refused"
                )
            if match.is_file():
                files.append(match)
    return files


async def run_remote(ctx: StageContext, hosts: list[str]) -> ProcessResult:
    """Run one attempt on every host (batches, parallel bound, max_failures) and judge it."""
    stage = ctx.stage
    pool = ctx.ssh_pool()
    multi = len(hosts) > 1
    shown = hosts[0] if not multi else f"{len(hosts)} hosts"
    group = HostGroup()
    try:
        command = ctx.command()
    except InterpolationError as error:
        ctx.started(stage.command_text, host=shown)
        return ProcessResult(Status.FAILED, None, str(error))
    untrack = ctx._track(group)
    ctx.started(shown_command(command), host=shown)
    strategy = stage.strategy
    batch = strategy.batch or len(hosts)
    slots = asyncio.Semaphore(strategy.parallel or len(hosts))
    results: dict[str, ProcessResult] = {}
    skipped: list[str] = []
    try:
        for start in range(0, len(hosts), batch):
            failed = [h for h, r in results.items() if r.status is not Status.SUCCEEDED]
            if len(failed) > strategy.max_failures or group.cancelled:
                skipped = hosts[start:]
                break
            chunk = hosts[start : start + batch]
            outcomes = await asyncio.gather(
                *(_one_host(ctx, pool, group, slots, name, multi, command) for name in chunk)
            )
            results.update(zip(chunk, outcomes, strict=True))
    finally:
        untrack()
    return _judge(ctx, results, skipped, group)


async def _one_host(
    ctx: StageContext,
    pool: SshPool,
    group: HostGroup,
    slots: asyncio.Semaphore,
    name: str,
    multi: bool,
    command: str | list[str],
) -> ProcessResult:
    from cdtui.runners.ssh import SshError, upload
    from cdtui.runners.ssh_process import RemoteProcess

    stage = ctx.stage
    host = ctx.pipeline.hosts[name]
    sink = ctx.output(host=name, prefix=f"{name} | " if multi else "")
    process = RemoteProcess(
        pool,
        name,
        host,
        command,
        cwd=stage.cwd,
        env={**ctx.env, "CDTUI_HOST": name},
        on_output=sink.feed,
        grace=ctx.grace,
        keep_children=stage.keep_children,
    )
    async with slots:
        if group.cancelled:
            return ProcessResult(Status.CANCELLED, None, group.cancelled)
        group.processes.append(process)
        try:
            if stage.upload:
                files = upload_files(ctx.project_dir, stage.upload)
                sums = await upload(pool, name, host, files, stage.cwd or ".")
                listed = ", ".join(f"{file} sha256:{digest[:12]}" for file, digest in sums)
                ctx.notice("info", f"{name}: uploaded and verified {listed}")
            await process.start()
            if group.cancelled:
                process.cancel(group.cancelled)
            result = await process.wait(timeout=stage.timeout)
            if result.ended_leftovers:
                pids = ", ".join(map(str, result.ended_leftovers))
                ctx.notice(
                    "warning",
                    f"{name}: ended leftover remote process(es) {pids}; "
                    "set keep_children: true to keep them running",
                )
            return result
        except (SshError, OSError) as error:
            return ProcessResult(Status.FAILED, None, f"{name}: {error}")
        finally:
            sink.close()


def _judge(
    ctx: StageContext,
    results: dict[str, ProcessResult],
    skipped: list[str],
    group: HostGroup,
) -> ProcessResult:
    stage = ctx.stage
    failed = {h: r for h, r in results.items() if r.status is not Status.SUCCEEDED}
    for host, result in failed.items():
        ctx.notice("error", f"{host}: {result.status.lower()}: {result.reason}")
    reasons = [
        f"{h}: {r.reason}" if not r.reason.startswith(h) else r.reason for h, r in failed.items()
    ]
    if skipped:
        reasons.append(f"not run after {len(failed)} failure(s): {', '.join(skipped)}")
    reason = "; ".join(reasons)
    if group.cancelled:
        return ProcessResult(Status.CANCELLED, None, group.cancelled)
    if len(failed) > stage.strategy.max_failures or (skipped and failed):
        statuses = {r.status for r in failed.values()}
        status = Status.TIMED_OUT if statuses == {Status.TIMED_OUT} else Status.FAILED
        code = next((r.exit_code for r in failed.values() if r.exit_code), None)
        return ProcessResult(status, code, reason)
    return ProcessResult(Status.SUCCEEDED, 0, reason)
