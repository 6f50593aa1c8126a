"""``cdtui run --dry-run``: the plan as an operator reads it, without running anything."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from cdtui.config.durations import format_setting
from cdtui.config.models import Pipeline, Stage
from cdtui.config.release import ReleaseSpec
from cdtui.engine.plan import Plan


def print_plan(pipeline: Pipeline, plan: Plan, source: str, jobs: int, console: Console) -> None:
    count = plan.stage_count()
    console.print(
        f"[bold]Plan[/] for [bold]{escape(pipeline.project)}[/] ({escape(source)}): "
        f"{len(plan.phases)} phase(s), {count} stage(s), up to {jobs} in parallel"
    )
    for number, phase_plan in enumerate(plan.phases, 1):
        gate = ""
        if phase_plan.phase.gate == "confirm":
            gate = f"  [yellow]‖ gate: confirm[/] [dim](headless: --approve '{phase_plan.name}')[/]"
        console.print(f"[bold]{number}. {escape(phase_plan.name)}[/]{gate}")
        by_name = {s.name: s for s in phase_plan.stages}
        for step, group in enumerate(phase_plan.levels(), 1):
            together = " [dim](parallel)[/]" if len(group) > 1 else ""
            console.print(f"   step {step}{together}:")
            for name in group:
                stage = by_name[name]
                manual = stage.when == "manual" and name not in phase_plan.requested
                console.print(f"     {escape(name)}{_details(stage, manual)}")
                if isinstance(stage.spec, ReleaseSpec):
                    for line in release_lines(stage.spec):
                        console.print(f"       [dim]{escape(line)}[/]")
    if pipeline.hosts:
        console.print("[bold]Hosts[/]")
        for name, host in pipeline.hosts.items():
            user = f"{host.user}@" if host.user else ""
            tags = f" tags: {', '.join(host.tags)}" if host.tags else ""
            console.print(f"   {escape(name)}: {escape(user)}{host.address}:{host.port}{tags}")


def _details(stage: Stage, manual: bool) -> str:
    parts = [f"[dim]$ {escape(_first_line(stage.command_text))}[/]"]
    if stage.needs:
        parts.append(f"needs {escape(', '.join(stage.needs))}")
    if stage.timeout:
        parts.append(f"timeout {format_setting(stage.timeout)}")
    if stage.retries.count:
        parts.append(f"retries {stage.retries.count}")
    if stage.continue_on_error:
        parts.append("may fail")
    if stage.when == "always":
        parts.append("when: always (runs even if its needs failed)")
    if stage.when == "on_failure":
        parts.append("when: on_failure (only if what it watches failed)")
    if stage.if_:
        parts.append(f"if: {escape(stage.if_)}")
    if stage.matrix is not None and stage.matrix.dynamic:
        parts.append("matrix: legs read at run time")
    if stage.checkout is not None and stage.checkout.clean:
        parts.append("checkout: clean" + (" (kept)" if stage.checkout.keep else ""))
    if stage.lock:
        parts.append(f"lock {escape(', '.join(stage.lock))}")
    if stage.resources.cpu > 1:
        parts.append(f"cpu {stage.resources.cpu}")
    if stage.keep_children:
        parts.append("keep_children (what it starts outlives it)")
    if stage.artifacts:
        parts.append(f"artifacts {escape(', '.join(map(str, stage.artifacts)))}")
    if stage.from_ is not None:
        parts.append(f"artifacts from {escape(str(stage.from_))}")
    if stage.upload:
        parts.append(f"upload {escape(', '.join(stage.upload))}")
    if manual:
        parts.append("[yellow]manual: skipped unless selected with --stage[/]")
    return "  " + "  ".join(parts)


def release_lines(spec: ReleaseSpec) -> list[str]:
    """The release block as the operator wrote it: where traffic goes, how, and how judged."""
    router = spec.router
    where = {"embedded": router.listen, "haproxy": f"{router.socket} backend {router.backend}"}
    lines = [f"router   {router.kind} {where.get(router.kind, router.listener_arn or '')}"]
    for colour in ("blue", "green"):
        side = getattr(spec, colour)
        deploy = side.deploy if isinstance(side.deploy, str | None) else " ".join(side.deploy)
        how = f"deploy: {_first_line(deploy)}" if deploy else "no deploy (already running)"
        lines.append(f"{colour:<8} {side.url}  {how}")
    steps = " → ".join(f"{step}%" for step in spec.effective_steps)
    lines.append(
        f"steps    {steps} of traffic on the new colour, hold {format_setting(spec.hold)} each"
    )
    health = spec.health
    judged = f"max error rate {health.max_error_rate:.0%}"
    if health.max_p95_ms is not None:
        judged += f", p95 <= {health.max_p95_ms:g} ms"
    lines.append(
        f"health   {health.path} every {format_setting(health.interval)}, {judged}, "
        f"{health.preflight} good checks before any traffic"
    )
    lines.append(f"keep     the old colour warm for {format_setting(spec.keep_warm)}")
    return lines


def _first_line(command: str) -> str:
    lines = command.strip().splitlines() or [""]
    return lines[0] + (" …" if len(lines) > 1 else "")
