"""Whether a stage whose needs have ended runs: ``when:``, ``if:``, a matrix's fail_fast.

One function answers with the reason it is skipped ('' when it runs), so the tree, the summary
and the store all say the same sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cdtui.config.conditions import Context
from cdtui.config.models import Stage
from cdtui.engine.events import Status

FAILED = (Status.FAILED, Status.TIMED_OUT, Status.CANCELLED, Status.INTERRUPTED)


@dataclass
class PhaseView:
    """What the decision reads of the phase so far."""

    name: str
    results: Mapping[str, Status]
    satisfies: Callable[[str, Status], bool]
    requested: frozenset[str] = frozenset()
    run_failed: bool = False  # an earlier phase failed: only always / on_failure stages run
    failed_groups: set[str] = field(default_factory=set)  # matrices whose fail_fast tripped


def implicit_needs(stage: Stage, phase_stages: Iterable[Stage]) -> list[str]:
    """An ``on_failure`` stage without needs watches every other stage of its phase."""
    if stage.when == "on_failure" and not stage.needs:
        return [s.name for s in phase_stages if s.when != "on_failure" and s is not stage]
    return list(stage.needs)


def skip_reason(
    stage: Stage, needs: list[str], view: PhaseView, context: Callable[[], Context]
) -> str:
    when = stage.when
    if when == "manual" and stage.name not in view.requested:
        return f"manual stage: run it with --stage '{view.name}/{stage.name}'"
    blocker = next((n for n in needs if not view.satisfies(n, view.results[n])), None)
    failed = [n for n in needs if view.results[n] in FAILED]
    if when == "on_failure":
        if not failed and not view.run_failed:
            return "on_failure: nothing it watches failed"
    elif when != "always":
        if view.run_failed:
            return "an earlier phase failed"
        if blocker is not None:
            return f"needs {blocker!r}, which {view.results[blocker].lower()}"
    if stage.matrix_of and stage.matrix_of in view.failed_groups:
        return f"fail_fast: another leg of {stage.matrix_of!r} failed"
    condition = stage.condition
    if condition is not None and not condition.holds(context()):
        return f"if: {stage.if_} is false"
    return ""
