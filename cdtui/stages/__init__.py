"""Stage kinds: one module per kind, each declaring the stage key that selects it, that key's
config model and one async entry point that receives a ``StageContext``.

Adding a kind is adding a module plus its config model and calling ``register``: the validator,
located errors, ``--dry-run``, the tree and the headless summary pick it up; the engine is not
touched. A kind's heavy imports (boto3, asyncssh) belong inside ``run``, so naming a kind in a
pipeline file costs nothing until a run reaches it.
"""

from __future__ import annotations

from cdtui.runners.local import ProcessResult
from cdtui.stages.base import StageKind, kind_of, kinds, register, unregister
from cdtui.stages.context import Cancellable, StageContext
from cdtui.stages.load import LoadKind
from cdtui.stages.release import ReleaseKind
from cdtui.stages.rollback import RollbackKind
from cdtui.stages.run import RunKind

__all__ = [
    "Cancellable",
    "ProcessResult",
    "StageContext",
    "StageKind",
    "kind_of",
    "kinds",
    "register",
    "unregister",
]

register(RunKind())
register(ReleaseKind())
register(RollbackKind())
register(LoadKind())
