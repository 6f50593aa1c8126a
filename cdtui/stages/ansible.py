"""The ``ansible`` kind: ansible-playbook as a process in its own group (cancel and timeout end
it), cdtui's JSON-lines callback turned into PLAY/TASK/host lines as they happen, per-host
ok/changed/failed counts as progress notices, and a failed task failing the stage by host, task
and message. Secrets reach the playbook through the environment and are masked in every line.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from cdtui.config.infra import AnsibleSpec
from cdtui.engine.events import Status
from cdtui.engine.interpolate import InterpolationError
from cdtui.runners.local import LocalProcess, ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.cloudformation import progress_notice
from cdtui.stages.context import StageContext

COUNTS_EVERY_S = 0.5  # at most this often a progress notice while results stream in


class AnsibleKind(StageKind):
    key = "ansible"
    config = AnsibleSpec

    def describe(self, spec: Any) -> str:
        return spec.describe()

    def keeps_outputs(self, stage: Any) -> bool:
        return bool(stage.artifacts)

    async def run(self, ctx: StageContext) -> ProcessResult:
        from cdtui.infra.ansible_run import AnsibleMissing, AnsibleSetupError

        spec: AnsibleSpec = ctx.stage.spec
        made: list[Path] = []
        try:
            argv = _prepare(ctx, spec, made)
        except AnsibleMissing as error:
            # Like the sample's browser stage: cannot run here is said (SKIPPED, with the
            # reason), never a silent pass; in CI, where it must run, it fails.
            ctx.started(spec.describe())
            if ctx.environ.get("CI") == "true":
                return ProcessResult(Status.FAILED, None, f"ansible: {error} (CI=true)")
            return ProcessResult(Status.SKIPPED, None, f"ansible: {error}")
        except (AnsibleSetupError, InterpolationError, OSError) as error:
            ctx.started(spec.describe())
            return ProcessResult(Status.FAILED, None, f"ansible: {error}")
        try:
            return await _play(ctx, spec, argv)
        finally:
            for path in made:
                path.unlink(missing_ok=True)


def _prepare(ctx: StageContext, spec: AnsibleSpec, made: list[Path]) -> list[str]:
    from cdtui.infra.ansible_run import (
        AnsibleSetupError,
        command,
        expanded,
        inventory_of,
        write_private,
    )

    playbook = ctx.project_dir / spec.playbook
    if not playbook.is_file():
        raise AnsibleSetupError(f"playbook {spec.playbook} not found in {ctx.project_dir}")
    private = ctx.state_dir / "ansible"
    inventory = None
    local = spec.connection == "local"
    if spec.inventory:
        inventory = ctx.project_dir / spec.inventory
        if not inventory.exists():
            raise AnsibleSetupError(f"inventory {spec.inventory} not found in {ctx.project_dir}")
    elif not local:
        if not ctx.pipeline.hosts:
            raise AnsibleSetupError(
                "no inventory: set ansible.inventory, ansible.connection: local, or hosts:"
            )
        inventory = write_private(
            private, "inventory-", inventory_of(ctx.pipeline, ctx.project_dir)
        )
        made.append(inventory)
    extra = None
    if spec.extra_vars:
        extra = write_private(private, "extra-vars-", expanded(dict(spec.extra_vars), ctx.values))
        made.append(extra)
    return command(spec, inventory=inventory, extra_vars=extra, local=local)


async def _play(ctx: StageContext, spec: AnsibleSpec, argv: list[str]) -> ProcessResult:
    from cdtui.infra.ansible_events import PlaybookView
    from cdtui.infra.ansible_run import environment

    sink = ctx.output()
    last = [0.0]

    def counts(hosts: dict[str, Any], force: bool = False) -> None:
        now = time.monotonic()
        if not hosts or (not force and now - last[0] < COUNTS_EVERY_S):
            return
        last[0] = now
        text = ", ".join(f"{host} {c.text()}" for host, c in sorted(hosts.items()))
        total = [sum(getattr(c, k) for c in hosts.values()) for k in ("ok", "changed", "failed")]
        progress = "ok={} changed={} failed={}".format(*total)
        if len(hosts) > 1:
            progress = f"{len(hosts)} hosts {progress}"
        progress_notice(ctx, f"ansible: {text}", progress)

    view = PlaybookView(sink.feed, on_counts=counts)
    if spec.extra_vars:
        names = ", ".join(sorted(spec.extra_vars))
        sink.feed(
            "stdout", f"extra vars: {names} (from a 0600 file, not the command line)\n".encode()
        )
    env = environment(ctx.local_env(), ctx.state_dir)
    (ctx.state_dir / "ansible" / "tmp").mkdir(parents=True, exist_ok=True)
    process = LocalProcess(
        argv, cwd=str(ctx.project_dir), env=env, on_output=view.feed, grace=ctx.grace
    )
    try:
        pid = process.start()
    except OSError as error:
        ctx.started(spec.describe())
        return ProcessResult(
            Status.FAILED, None, f"cannot start {argv[0]}: {error.strerror or error}"
        )
    with ctx.tracking(process):
        ctx.started(_shown(argv), pid=pid)
        if ctx.cancelled:
            process.cancel(ctx.cancel_reason)
        result = await process.wait(timeout=ctx.timeout)
    with contextlib.suppress(Exception):
        view.close()
    counts(view.hosts, force=True)
    if result.status is Status.FAILED or (result.status is Status.SUCCEEDED and view.first_failure):
        why = view.first_failure or f"ansible-playbook exited {result.exit_code} (see the log)"
        return ProcessResult(Status.FAILED, result.exit_code, why)
    return result


def _shown(argv: list[str]) -> str:
    import shlex

    return shlex.join([Path(argv[0]).name, *argv[1:]])
