"""The words of the release and rollback confirmations: exactly what will happen, and the facts
to judge it by, laid out as label / value rows."""

from __future__ import annotations

from rich.text import Text

from cdtui.release.context import ReleaseContext

LABEL = 13


def _row(body: Text, label: str, value: str | Text, style: str = "") -> None:
    body.append(f"{label:<{LABEL}}", style="bold")
    lines = value.split("\n") if isinstance(value, str) else [value]
    for index, line in enumerate(lines):
        if index:
            body.append(" " * LABEL)
        body.append(line, style=style) if isinstance(line, str) else body.append_text(line)
        body.append("\n")


def release_body(context: ReleaseContext) -> Text:
    spec = context.spec
    idle_spec = spec.green if context.idle == "green" else spec.blue
    body = Text()
    body.append(
        f"All traffic moves from {context.live} to {context.idle}, step by step, while "
        f"{context.idle}'s health is analysed.\n\n"
    )
    deploy = idle_spec.deploy
    first = (
        f", deployed first by: {deploy if isinstance(deploy, str) else ' '.join(deploy)}"
        if deploy
        else " (already deployed: nothing redeploys it)"
    )
    _row(body, "from → to", f"{context.live} (live) → {context.idle} (idle{first})")
    artifact = context.artifact
    if artifact is not None:
        _row(body, "artifact", f"{artifact.path}  sha256:{artifact.sha256[:16]}…")
        tested = context.tested_by or "untested"
        _row(body, "tested by", tested, "bold red" if context.tested_run is None else "")
    else:
        _row(body, "artifact", context.tested_by or "none recorded", "dim")
    if context.results:
        _row(body, "results", "\n".join(context.results))
    elif context.tested_run is not None:
        _row(body, "results", "no measured results in that run (CDTUI_METRICS)", "dim")
    commits = "\n".join([context.commits_note, *("  " + c for c in context.commits)])
    _row(body, "commits", commits.strip() or "unknown")
    _row(body, "steps", context.plan)
    health = "\n".join(f"{c}: {context.health[c]}" for c in ("blue", "green"))
    _row(body, "health now", health)
    split = str(context.weights) if context.weights else context.router_note or "unknown"
    _row(body, "router", f"{spec.router.kind}: {split}")
    for warning in context.warnings:
        body.append(f"! {warning}\n", style="bold")
    return body


def rollback_body(context: ReleaseContext) -> Text:
    target = context.rollback_to
    body = Text()
    body.append(f"All traffic goes to {target} at once.\n\n", style="bold")
    split = str(context.weights) if context.weights else context.router_note or "unknown"
    _row(body, "now", split)
    _row(body, "after", f"{target} 100%; {'green' if target == 'blue' else 'blue'} keeps running")
    _row(body, target, context.health.get(target, "not watched"))
    if "UNHEALTHY" in context.health.get(target, ""):
        body.append(f"! {target} is unhealthy now: check it before rolling back to it\n", "bold")
    return body
