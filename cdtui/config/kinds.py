"""The config side of stage kinds: which stage keys name a kind, and the model of each key's value.

``cdtui.stages`` registers the built-in kinds (and a plugin registers its own) here, so the pipeline
file's validation, located errors and did-you-mean know every kind without importing any kind's
runtime (boto3, asyncssh) until a run needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class KindConfig:
    key: str  # the stage's key that selects the kind: run, load, cloudformation, ...
    model: type[BaseModel] | None  # the key's value; None: the key is a Stage field (run)
    describe: Callable[[Any], str]  # the command line the tree, history and --dry-run show
    in_yaml: bool = True  # False: made by cdtui itself (a phase's release block), never written


def _builtin() -> dict[str, KindConfig]:
    """The kinds cdtui ships, known here without importing their runtime (``cdtui.stages``)."""
    from cdtui.config.load import LoadSpec
    from cdtui.config.release import ReleaseSpec

    return {
        "run": KindConfig("run", None, lambda _spec: "run"),
        "release": KindConfig("release", ReleaseSpec, ReleaseSpec.describe, in_yaml=False),
        "rollback": KindConfig("rollback", ReleaseSpec, lambda _spec: "rollback", in_yaml=False),
        "load": KindConfig("load", LoadSpec, LoadSpec.describe),
    }


_REGISTRY: dict[str, KindConfig] = _builtin()


def register_config(kind: KindConfig) -> None:
    _REGISTRY[kind.key] = kind


def unregister_config(key: str) -> None:
    _REGISTRY.pop(key, None)


def kind_configs() -> dict[str, KindConfig]:
    """Every registered kind's config: the built-in ones and any a plug-in registered."""
    return _REGISTRY


def yaml_kinds() -> dict[str, KindConfig]:
    """The kinds a pipeline file may name, by key."""
    return {key: kind for key, kind in kind_configs().items() if kind.in_yaml}
