"""The words of the release and rollback confirmations: exactly what will happen, and the facts
to judge it by, laid out as label / value rows."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cdtui.release.context import ReleaseContext
from cdtui.textsafe import plain


class _Rows:
    """Label / value rows; a long value wraps under itself, not under the label."""

    def __init__(self, intro: Text) -> None:
        self.intro = intro
        self.table = Table.grid(padding=(0, 2))
        self.table.add_column(style="bold", no_wrap=True)
        self.table.add_column(ratio=1)
        self.tail = Text()

    def add(self, label: str, value: str, style: str = "", *, cut: bool = False) -> None:
        """``cut``: one screen line per line of ``value`` (ellipsis), for lists like commits."""
        text = Text(value, style=style, no_wrap=cut, overflow="ellipsis" if cut else "fold")
        self.table.add_row(label, text)

    def group(self) -> Group:
        return Group(self.intro, self.table, self.tail)


def release_body(
    context: ReleaseContext,
    *,
    resume_from: int | None = None,
    driver: int | None = None,
    stopped: int | None = None,
) -> Group:
    """``resume_from``: a driverless release (its cdtui, pid ``driver``, is gone) continues
    from that step instead of starting over; a colour that serves traffic is not redeployed.
    ``stopped``: it stopped where nothing is left to resume (all traffic moved): r is a new
    release, the other way."""
    spec = context.spec
    idle_spec = spec.green if context.idle == "green" else spec.blue
    intro = Text(
        f"All traffic moves from {context.live} to {context.idle}, step by step, while "
        f"{context.idle}'s health is analysed.\n"
    )
    if resume_from is not None:
        intro = Text(
            f"Resumes the release whose cdtui (pid {driver}) is gone, from {resume_from}% on "
            f"{context.idle}: the next steps follow, {context.idle}'s health analysed.\n",
            style="bold",
        )
    if stopped is not None:
        intro = Text(
            f"The release whose cdtui (pid {driver}) is gone stopped at {stopped}% with all "
            f"traffic on {context.live}: nothing is left to resume. This is a NEW release, "
            f"{context.live} → {context.idle}; to undo the last one, Esc and b.\n",
            style="bold",
        )
    body = _Rows(intro)
    deploy = idle_spec.deploy
    if deploy:
        deploy = context.mask(deploy if isinstance(deploy, str) else " ".join(deploy))
    first = (
        f"; deployed first by: {deploy if isinstance(deploy, str) else ' '.join(deploy)}"
        if deploy
        else "; already deployed: nothing redeploys it"
    )
    if resume_from:
        first = f"; serves {resume_from}% now, so it is not redeployed"
    body.add("from → to", f"{context.live} (live) → {context.idle} (idle{first})")
    artifact = context.artifact
    if artifact is not None:
        body.add("artifact", f"{plain(artifact.path)}  sha256:{artifact.sha256[:16]}…")
        tested = context.tested_by or "untested"
        body.add("tested by", tested, "bold red" if context.tested_run is None else "")
    else:
        body.add("artifact", context.tested_by or "none recorded", "dim")
    if context.results:
        body.add("results", "\n".join(map(plain, context.results)), cut=True)
    elif context.tested_run is not None:
        body.add("results", "no measured results in that run (CDTUI_METRICS)", "dim")
    commits = "\n".join([context.commits_note, *("  " + c for c in context.commits)])
    body.add("commits", commits.strip() or "unknown", cut=True)
    body.add("steps", context.plan)
    health = "\n".join(f"{c}: {context.health[c]}" for c in ("blue", "green"))
    body.add("health now", health)
    split = str(context.weights) if context.weights else context.router_note or "unknown"
    body.add("router", f"{spec.router.kind}: {split}")
    for warning in context.warnings:
        body.tail.append(f"\n! {warning}", style="bold")
    return body.group()


def rollback_body(context: ReleaseContext) -> Group:
    target = context.rollback_to
    body = _Rows(Text(f"All traffic goes to {target} at once.\n", style="bold"))
    split = str(context.weights) if context.weights else context.router_note or "unknown"
    body.add("now", split)
    body.add("after", f"{target} 100%; {'green' if target == 'blue' else 'blue'} keeps running")
    body.add(target, context.health.get(target, "not watched"))
    for warning in context.warnings:
        body.tail.append(f"\n! {warning}", style="bold")
    health = context.health.get(target, "")
    if "UNHEALTHY" in health or "never up" in health:
        state = "unhealthy now" if "UNHEALTHY" in health else "never up (not deployed?)"
        body.tail.append(
            f"\n! {target} is {state}: the rollback will be refused; the refusal offers r, "
            f"which redeploys {target} first (cdtui rollback --redeploy)",
            style="bold",
        )
    return body.group()
