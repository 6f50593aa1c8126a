"""Matrix overhead: a 100-leg matrix of ``true`` run by cdtui vs a bash loop running the same.

The legs run one at a time (``--jobs 1``) so the figure is cdtui's cost per leg (expansion,
scheduling, events, the store), not parallelism. Prints both and the ratio (target <= 1.5x).
Usage: python bench/matrix_overhead.py [--legs 100] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import shutil

from _common import drop_project, interleaved, temp_project, time_run
from stage_overhead import bash_time


def cdtui_time(legs: int) -> float:
    project = temp_project()
    stage = {"name": "t", "run": "true", "matrix": {"n": [str(i) for i in range(legs)]}}
    took = time_run({"project": "bench", "phases": [{"name": "P", "stages": [stage]}]}, project)
    drop_project(project)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--legs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 legs, one run: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.legs, args.runs = 10, 1
    n = args.legs
    bash = shutil.which("bash")
    inner = f"CDTUI_MATRIX_N=$i {bash} --noprofile --norc -eo pipefail -c true"
    ours, base = interleaved(args.runs, lambda: cdtui_time(n), lambda: bash_time(n, inner))
    print(
        f"{n}-leg matrix: cdtui {ours / n * 1000:.2f} ms/leg, bash loop {base / n * 1000:.2f} "
        f"ms/leg, ratio {ours / base:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
