"""After cancel: how long until no process of the stage is alive, against grace + 1 s.

The stage is a hostile tree: a shell that ignores SIGTERM, background jobs, a pipeline,
a ``setsid`` escapee that also ignores SIGTERM, and a double fork through ``setsid env -i``
(no marker, own group, its parent gone: found only because cdtui is its subreaper).
Target: 0 processes alive within grace + 1 s.
Usage: python bench/cancel_cleanup.py [--grace 2] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from _common import drop_project, engine_with_store, temp_project

from cdtui.engine.events import StageStarted
from cdtui.runners.proctree import stage_processes

SCRIPT = (
    "trap '' TERM; "
    "setsid sh -c 'trap \"\" TERM; sleep 60' </dev/null >/dev/null 2>&1 & "
    "(sleep 60 | cat) & bash -c 'trap \"\" TERM; sleep 60' & "
    "setsid env -i sh -c 'trap \"\" TERM; sleep 60 </dev/null >/dev/null 2>&1 & echo $! > esc'; "
    "echo ready > ready; wait"
)


async def one(grace: float) -> tuple[float, int, int]:
    project = temp_project()
    stage = {"name": "tree", "run": SCRIPT, "grace": grace}
    engine, store = engine_with_store(
        {"project": "bench", "phases": [{"name": "P", "stages": [stage]}]}, project
    )
    started: list[StageStarted] = []
    engine.subscribe(lambda e: started.append(e) if isinstance(e, StageStarted) else None)
    task = asyncio.create_task(engine.run())
    while not (project / "ready").exists():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    token_env = Path(f"/proc/{started[0].pid}/environ").read_bytes().split(b"\0")
    token = next(v for v in token_env if v.startswith(b"CDTUI_STAGE_TOKEN=")).split(b"=")[1]
    before = stage_processes(started[0].pid, token.decode())
    before |= {int((project / "esc").read_text())}  # counted even if the search missed it
    began = time.perf_counter()
    engine.cancel("bench")
    await task
    while _alive(before) and time.perf_counter() - began < 30:
        await asyncio.sleep(0.01)
    took = time.perf_counter() - began
    alive = len(_alive(before))
    store.close()
    drop_project(project)
    return took, len(before), alive


def _alive(pids: set[int]) -> set[int]:
    """The pids still running (a zombie's stat still reads, but it is gone: state Z)."""
    found = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found.add(pid)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="Grace 0.3 s, one run: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.grace, args.runs = 0.3, 1
    for _ in range(args.runs):
        took, count, alive = asyncio.run(one(args.grace))
        print(
            f"{count} processes, all gone {took:.2f}s after cancel (grace {args.grace:g}s; "
            f"limit {args.grace + 1:g}s; ratio {took / (args.grace + 1):.2f}); still alive: {alive}"
        )


if __name__ == "__main__":
    main()
