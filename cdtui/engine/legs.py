"""A matrix at run time: a dynamic one expanded into legs (announced by ``StagesExpanded``),
and fail_fast, which ends a matrix's other legs when one fails."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cdtui.config.models import Stage
from cdtui.engine.events import StagesExpanded, Status

if TYPE_CHECKING:
    from cdtui.engine.eligibility import PhaseView
    from cdtui.engine.engine import Engine


def expand_dynamic(engine: Engine, phase: str, stage: Stage) -> list[Stage] | str:
    """A dynamic matrix's legs from the outputs it reads (announced), or why not."""
    from cdtui.config.matrix import MatrixError, make_legs, resolve
    from cdtui.engine.interpolate import InterpolationError, expand

    values = engine.scope.values()
    try:
        spec = resolve(stage.matrix, lambda ref: expand(ref, values, shell=False))
        legs = make_legs(stage, spec)
    except (MatrixError, InterpolationError) as error:
        return f"matrix: {error}"
    engine.bus.emit(
        StagesExpanded(
            engine.run_id,
            time.time(),
            phase,
            stage.name,
            tuple(leg.name for leg in legs),
            tuple(engine.masker.mask_text(leg.command_text) for leg in legs),
        )
    )
    return legs


def needing(stage: Stage, matrix: str, legs: list[Stage]) -> Stage:
    """``stage`` with its need of a dynamic matrix replaced by that matrix's legs."""
    needs = [n for n in stage.needs if n != matrix]
    if matrix in stage.needs:
        needs += [leg.name for leg in legs]
    kept = (stage._matrix_values, stage._matrix_of)
    copy = stage.model_copy(update={"needs": needs})
    copy._matrix_values, copy._matrix_of = kept
    return copy


def fail_fast(
    engine: Engine,
    phase: str,
    stage: Stage,
    status: Status,
    view: PhaseView,
    running: Mapping[Any, str],
) -> None:
    """A failed leg of a fail_fast matrix cancels its running siblings; the rest skip."""
    spec = stage.matrix
    if not stage.matrix_of or spec is None or not spec.fail_fast:
        return
    if engine._satisfies(stage, status) or status is Status.SKIPPED or engine._cancelled.is_set():
        return
    if stage.matrix_of in view.failed_groups:
        return
    view.failed_groups.add(stage.matrix_of)
    why = f"fail_fast: {stage.name} failed"
    for other in running.values():
        if other != stage.name and other.startswith(stage.matrix_of + "["):
            engine.cancel_stage(phase, other, why)
