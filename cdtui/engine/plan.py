"""What a run will do: the phases, the stages in each (with what they need) and their order.

``cdtui run --dry-run`` prints a plan; the engine executes the same plan, so what an operator
reads is what runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from cdtui.config.models import Phase, Pipeline, Stage
from cdtui.engine.eligibility import implicit_needs


class PlanError(Exception):
    """A ``--phase``/``--stage`` selection that names nothing, or too many things."""


@dataclass(frozen=True)
class PhasePlan:
    phase: Phase
    stages: tuple[Stage, ...]  # selected stages, file order
    requested: frozenset[str]  # stages named explicitly (manual stages run only then)

    @property
    def name(self) -> str:
        return self.phase.name

    def levels(self) -> list[list[str]]:
        """Groups that can run in parallel, in order (a stage's level is 1 + its deepest need)."""
        names = {s.name for s in self.stages}
        depth: dict[str, int] = {}
        by_name = {s.name: s for s in self.stages}

        def level(name: str) -> int:
            if name not in depth:
                watched = implicit_needs(by_name[name], self.stages)  # on_failure: the phase
                needs = [n for n in watched if n in names]
                depth[name] = 1 + max((level(n) for n in needs), default=-1)
            return depth[name]

        groups: dict[int, list[str]] = {}
        for stage in self.stages:
            groups.setdefault(level(stage.name), []).append(stage.name)
        return [groups[k] for k in sorted(groups)]


@dataclass(frozen=True)
class Plan:
    phases: tuple[PhasePlan, ...]

    def stage_count(self) -> int:
        return sum(len(p.stages) for p in self.phases)


def make_plan(
    pipeline: Pipeline,
    phases: Sequence[str] = (),
    stages: Sequence[str] = (),
) -> Plan:
    """Select phases (``--phase``) and stages (``--stage NAME`` or ``Phase/NAME``)."""
    chosen_phases = {_find_phase(pipeline, p).name for p in phases}
    wanted: dict[str, set[str]] = {}
    for selector in stages:
        phase, stage = _find_stage(pipeline, selector)
        legs = [s.name for s in phase.stages if s.matrix_of and s.matrix_of == stage.name]
        wanted.setdefault(phase.name, set()).update(legs or [stage.name])
    plans: list[PhasePlan] = []
    for phase in pipeline.phases:
        by_phase, by_stage = phase.name in chosen_phases, phase.name in wanted
        if (chosen_phases or wanted) and not (by_phase or by_stage):
            continue
        requested = frozenset(wanted.get(phase.name, ()))
        selected = tuple(phase.stages)
        if by_stage and not by_phase:
            keep = _with_needs(phase, wanted[phase.name])
            selected = tuple(s for s in phase.stages if s.name in keep)
        plans.append(PhasePlan(phase, selected, requested))
    return Plan(tuple(plans))


def _with_needs(phase: Phase, names: set[str]) -> set[str]:
    by_name = {s.name: s for s in phase.stages}
    keep: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        todo.extend(by_name[name].needs)
    return keep


def _find_phase(pipeline: Pipeline, name: str) -> Phase:
    for phase in pipeline.phases:
        if phase.name == name or phase.name.lower() == name.lower():
            return phase
    names = [p.name for p in pipeline.phases]
    hint = _did_you_mean(name, names)
    raise PlanError(f"no phase named {name!r}{hint}; phases: {', '.join(names)}")


def _find_stage(pipeline: Pipeline, selector: str) -> tuple[Phase, Stage]:
    """A stage by name; a matrix's name (``test``) stands for its legs (the caller takes all)."""
    phase_name, _, name = selector.rpartition("/") if "/" in selector else ("", "", selector)
    phases = [_find_phase(pipeline, phase_name)] if phase_name else pipeline.phases
    for phase in phases:
        for stage in phase.stages:
            if stage.matrix_of == name:
                return phase, stage.model_copy(update={"name": name})
    if "/" in selector:
        phase_name, stage_name = selector.split("/", 1)
        phase = _find_phase(pipeline, phase_name)
        for stage in phase.stages:
            if stage.name == stage_name:
                return phase, stage
        names = [s.name for s in phase.stages]
        hint = _did_you_mean(stage_name, names)
        raise PlanError(f"phase {phase.name!r} has no stage {stage_name!r}{hint}")
    matches = [(p, s) for p in pipeline.phases for s in p.stages if s.name == selector]
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(f"{p.name}/{s.name}" for p, s in matches)
        raise PlanError(f"stage {selector!r} is in several phases; name one of: {options}")
    names = [s.name for p in pipeline.phases for s in p.stages]
    raise PlanError(f"no stage named {selector!r}{_did_you_mean(selector, names)}")


def _did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
