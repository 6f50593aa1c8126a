"""Where an attempt runs, and the commit a run tested: the engine's side of ``checkout.py``.

git runs in a thread: a checkout of a large repository must not stall other stages' output.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from cdtui.engine.checkout import (
    CheckoutError,
    Revision,
    checkout_dir,
    make,
    remove,
    revision,
)
from cdtui.engine.events import CommitTested, Status
from cdtui.runners.local import ProcessResult

if TYPE_CHECKING:
    from cdtui.config.models import Checkout, Stage
    from cdtui.engine.engine import Engine


def checkout_of(engine: Engine, phase: str, stage: Stage) -> Checkout | None:
    """The stage's ``checkout:``, else its phase's; None for a remote stage (its files are its
    hosts')."""
    if stage.on:
        return None
    if stage.checkout is not None:
        return stage.checkout if stage.checkout.clean else None
    try:
        spec = engine.pipeline.phase(phase).checkout
    except KeyError:
        return None
    return spec if spec is not None and spec.clean else None


@contextlib.asynccontextmanager
async def clean_checkout(
    engine: Engine, phase: str, stage: Stage, attempt: int
) -> AsyncIterator[Path | ProcessResult | None]:
    """Yields the directory to run in (None: the project itself), or the failure to report."""
    spec = checkout_of(engine, phase, stage)
    if spec is None:
        yield None
        return
    target = checkout_dir(engine.state_dir, engine.run_id, phase, stage.name, attempt)
    began = time.monotonic()
    found = await tested_revision(engine)
    if found is None and spec.outside_git == "here":
        engine.notice(
            "warning",
            "checkout: clean: not a git repository (or no commit yet), so the stage runs in "
            "the project directory itself (outside_git: here)",
            phase,
            stage.name,
        )
        yield None
        return
    try:
        made = await asyncio.to_thread(make, found, target, submodules=spec.submodules)
    except CheckoutError as error:
        yield ProcessResult(Status.FAILED, None, str(error))
        return
    except Exception as error:  # a bug here fails the stage, never the run's record
        yield ProcessResult(Status.FAILED, None, f"checkout: clean crashed: {error!r}")
        return
    took = time.monotonic() - began
    engine.notice(
        "info",
        f"checkout: clean of {made.revision.commit[:12]} in {took:.2f}s",
        phase,
        stage.name,
    )
    for note in made.notes:
        engine.notice("warning", note, phase, stage.name)
    try:
        yield made.workdir
    finally:
        if spec.keep:
            engine.notice("info", f"checkout kept at {made.path}", phase, stage.name)
        else:
            await asyncio.to_thread(remove, made.revision.top, made.path)


async def tested_revision(engine: Engine) -> Revision | None:
    """HEAD and the tree's state when the run began: read once (git in a thread), shared by
    the run's record and every clean checkout, so all legs test the same commit."""
    if engine._revision is None:
        engine._revision = asyncio.ensure_future(asyncio.to_thread(revision, engine.project_dir))
    return await engine._revision


async def record_commit(engine: Engine) -> None:
    """The run's ``CommitTested`` (nothing outside a git repository)."""
    found = await tested_revision(engine)
    if found is not None:
        engine.bus.emit(CommitTested(engine.run_id, time.time(), found.commit, bool(found.dirty)))
