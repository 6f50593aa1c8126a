"""The ``steps:`` value of a stage: named commands run in sequence (``cdtui.engine.steps``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration

# models.NAME_PATTERN (models imports the kinds lazily, so a kind's model cannot import models)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.&+-]*$"


def shown_command(command: str | list[str]) -> str:
    import shlex

    return command.strip() if isinstance(command, str) else shlex.join(command)


class Step(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    run: str | list[str]
    continue_on_error: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None


class StepList(RootModel[list[Step]]):
    """The ``steps:`` value: at least one step, names unique within the stage."""

    @model_validator(mode="after")
    def _unique(self) -> StepList:
        if not self.root:
            raise ValueError("a stage's steps: needs at least one step")
        seen: set[str] = set()
        for step in self.root:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}: step names are unique")
            seen.add(step.name)
        return self

    @property
    def steps(self) -> list[Step]:
        return self.root

    @staticmethod
    def describe(spec: Any) -> str:
        return "; ".join(f"{s.name}: {shown_command(s.run)}" for s in spec.root)
