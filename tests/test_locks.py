"""lock: NAME and resources: {cpu: N} with real processes: what shares a lock never overlaps."""

from __future__ import annotations

import asyncio

from cdtui.engine.events import Notice, Status
from cdtui.engine.locks import Capacity
from tests.conftest import pipeline_of

# Fails when another holder is inside: proves two stages overlapped.
ALONE = "[ ! -e inside ] && touch inside && sleep 0.3 && rm inside"


def _two(lock: dict) -> dict:
    return {
        "name": "P",
        "stages": [{"name": "a", "run": ALONE, **lock}, {"name": "b", "run": ALONE, **lock}],
    }


async def test_without_a_lock_the_two_overlap(make_engine):
    engine, _ = make_engine(pipeline_of(_two({})), jobs=2)
    assert await engine.run() is Status.FAILED  # the check can fail: they do run together


async def test_a_named_lock_keeps_two_stages_apart(make_engine):
    engine, events = make_engine(pipeline_of(_two({"lock": "db"})), jobs=2)
    assert await engine.run() is Status.SUCCEEDED
    assert any("waits for lock db" in e.text for e in events.of(Notice))


async def test_locks_hold_across_the_legs_of_a_matrix(make_engine):
    stage = {"name": "t", "run": ALONE, "lock": ["db", "cache"], "matrix": {"n": ["1", "2", "3"]}}
    engine, _ = make_engine(pipeline_of({"name": "P", "stages": [stage]}), jobs=3)
    assert await engine.run() is Status.SUCCEEDED


async def test_cpu_units_bound_what_runs_beside(make_engine):
    stages = [
        {"name": "big", "run": ALONE, "resources": {"cpu": 2}},
        {"name": "small", "run": ALONE},
    ]
    engine, _ = make_engine(pipeline_of({"name": "P", "stages": stages}), jobs=2)
    assert await engine.run() is Status.SUCCEEDED  # big takes both units: never beside small


async def test_capacity_serves_in_arrival_order() -> None:
    capacity = Capacity(2)
    order: list[str] = []

    async def take(name: str, units: int, hold: float) -> None:
        async with capacity.take(units):
            order.append(name)
            await asyncio.sleep(hold)

    first = asyncio.create_task(take("one", 1, 0.1))
    await asyncio.sleep(0)
    big = asyncio.create_task(take("big", 2, 0.0))
    await asyncio.sleep(0)
    small = asyncio.create_task(take("small", 1, 0.0))  # fits now, but big came first
    await asyncio.gather(first, big, small)
    assert order == ["one", "big", "small"]
    assert capacity.free == 2
