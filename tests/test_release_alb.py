"""A release on an ALB (moto server): the same rollout, weights set and read back through boto3.

moto carries no traffic, so health is checked on local backends, as an ALB's targets would be."""

from __future__ import annotations

import asyncio
from pathlib import Path

from release_backends import faulty_server
from test_release_rollout import fast
from test_router_alb import Balancer, alb  # noqa: F401 - the module-scoped moto ALB fixture

from cdtui.config.release import ReleaseSpec
from cdtui.release.control import locked, prepare, rollback
from cdtui.release.rollout import State
from cdtui.release.routers import Weights, make_router


def test_release_and_rollback_on_an_alb(alb: Balancer, tmp_path: Path):  # noqa: F811
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, 0, hold=0.1)
        block["router"] = alb.spec().model_dump(exclude_unset=True)
        spec = ReleaseSpec.model_validate(block)

        async def go() -> tuple[State, Weights, State, Weights]:
            router = make_router(spec.router, tmp_path)
            await router.set_weights(Weights.ALL_BLUE)
            async with locked(spec, tmp_path) as handle:
                rollout, _ = await prepare(handle, run_id=1)
                done = await rollout.run()
                released = await router.get_weights()
                back = await rollback(handle, run_id=2)
            return done.state, released, back.state, await router.get_weights()

        assert asyncio.run(go()) == (
            State.DONE,
            Weights.ALL_GREEN,
            State.ROLLED_BACK,
            Weights.ALL_BLUE,
        )
