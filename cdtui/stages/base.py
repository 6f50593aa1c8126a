"""The one interface every stage kind implements, and the registry that finds a stage's kind."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from cdtui.config.kinds import KindConfig, register_config, unregister_config
from cdtui.config.models import Stage
from cdtui.runners.local import ProcessResult
from cdtui.stages.context import StageContext


class StageKind:
    """The one interface every kind implements.

    ``key``: the stage's YAML key naming the kind. ``config``: the model of that key's value (None
    when the key is a plain Stage field, as ``run`` is). ``keeps_outputs(stage)``: whether the
    engine records the attempt's artifacts and metrics from the project afterwards. ``run``
    returns the attempt's status, exit code and reason; raising is a crash the engine reports.
    """

    key: ClassVar[str]
    config: ClassVar[type[BaseModel] | None] = None
    in_yaml: ClassVar[bool] = True

    def describe(self, spec: Any) -> str:
        """The command line the tree, history and --dry-run show."""
        return self.key

    def keeps_outputs(self, stage: Stage) -> bool:
        return True

    async def run(self, ctx: StageContext) -> ProcessResult:
        raise NotImplementedError


_KINDS: dict[str, StageKind] = {}


def register(kind: StageKind) -> StageKind:
    """Make ``kind`` known to the pipeline file and the engine (a later one replaces it)."""
    _KINDS[kind.key] = kind
    register_config(KindConfig(kind.key, kind.config, kind.describe, kind.in_yaml))
    return kind


def unregister(key: str) -> None:
    _KINDS.pop(key, None)
    unregister_config(key)


def kind_of(stage: Stage) -> StageKind:
    return _KINDS[stage.kind]


def kinds() -> dict[str, StageKind]:
    return dict(_KINDS)
