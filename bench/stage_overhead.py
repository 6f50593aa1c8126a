"""Per-stage overhead: 200 trivial stages run by cdtui vs a bash loop running the same commands.

Prints both, and the ratio (target: <= 1.5x). Two variants: shell-string stages (cdtui runs
``bash -c true`` per stage, so the loop does too) and argv stages (``/bin/true``).
Usage: python bench/stage_overhead.py [--stages 200] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess

from _common import clock, drop_project, engine_with_store, interleaved, temp_project


def cdtui_time(count: int, run: object) -> float:
    project = temp_project()
    stages = [{"name": f"s{i}", "run": run} for i in range(count)]
    engine, store = engine_with_store(
        {"project": "bench", "phases": [{"name": "P", "stages": stages}]}, project, jobs=1
    )
    began = clock()
    status = asyncio.run(engine.run())
    took = clock() - began
    store.close()
    drop_project(project)
    assert status == "SUCCEEDED", status
    return took


def bash_time(count: int, inner: str) -> float:
    began = clock()
    subprocess.run(["bash", "-c", f"for i in $(seq {count}); do {inner}; done"], check=True)
    return clock() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 stages, one run: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.stages, args.runs = 20, 1
    n = args.stages
    bash = shutil.which("bash")
    variants = [
        ("shell stages", "true", f"{bash} --noprofile --norc -eo pipefail -c true"),
        ("argv stages", ["/bin/true"], "/bin/true"),
    ]
    for label, run, inner in variants:
        ours, base = interleaved(
            args.runs, lambda run=run: cdtui_time(n, run), lambda inner=inner: bash_time(n, inner)
        )
        print(
            f"{label}: cdtui {ours / n * 1000:.2f} ms/stage, bash loop {base / n * 1000:.2f} "
            f"ms/stage, ratio {ours / base:.2f}x (target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
