"""The ``steps`` kind: a stage of named commands run in sequence in one workspace."""

from __future__ import annotations

from typing import Any

from cdtui.config.models import Stage
from cdtui.config.steps import StepList
from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind
from cdtui.stages.context import StageContext


class StepsKind(StageKind):
    key = "steps"
    config = StepList

    def describe(self, spec: Any) -> str:
        return StepList.describe(spec)

    def keeps_outputs(self, stage: Stage) -> bool:
        return True

    async def run(self, ctx: StageContext) -> ProcessResult:
        from cdtui.engine.steps import run_steps

        return await run_steps(ctx)
