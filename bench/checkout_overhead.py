"""Per-stage cost of ``checkout: clean``: stages in a fresh worktree run by cdtui vs the same by
hand (``git worktree add --detach`` + the command + ``git worktree remove``) in a bash loop.

The repository is made here: ``--files`` small files in a few directories, one commit. Prints
both per stage and the ratio. Usage: python bench/checkout_overhead.py [--stages 20]
[--files 500] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from _common import clock, drop_project, interleaved, temp_project, time_run


def make_repo(root: Path, files: int) -> None:
    for i in range(files):
        path = root / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n")
    (root / ".gitignore").write_text(".cdtui\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)


def cdtui_time(repo: Path, count: int) -> float:
    # The default layout: the state dir (and so the checkouts) outside the repository. Inside
    # it (CDTUI_STATE_DIR=.cdtui) git takes about twice as long to add and remove a worktree.
    state = tempfile.mkdtemp(prefix="cdtui-bench-state-")
    os.environ["CDTUI_STATE_DIR"] = state
    stages = [
        {"name": f"s{i}", "run": "test -f pkg0/mod0.py", "checkout": "clean"} for i in range(count)
    ]
    took = time_run({"project": "bench", "phases": [{"name": "P", "stages": stages}]}, repo)
    drop_project(Path(state))
    return took


def by_hand(repo: Path, count: int) -> float:
    where = tempfile.mkdtemp(prefix="cdtui-bench-wt-")
    script = (
        f"for i in $(seq {count}); do d={where}/w$i; git worktree add -q --detach $d HEAD; "
        f"(cd $d && bash --noprofile --norc -eo pipefail -c 'test -f pkg0/mod0.py'); "
        "git worktree remove --force $d; done"
    )
    began = clock()
    subprocess.run(["bash", "-c", script], cwd=repo, check=True)
    took = clock() - began
    drop_project(Path(where))
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 stages, 50 files, one run.")
    args = parser.parse_args()
    if args.quick:
        args.stages, args.files, args.runs = 3, 50, 1
    repo = temp_project()
    make_repo(repo, args.files)
    n = args.stages
    try:
        ours, base = interleaved(args.runs, lambda: cdtui_time(repo, n), lambda: by_hand(repo, n))
    finally:
        drop_project(repo)
    print(
        f"checkout: clean, {args.files} files: cdtui {ours / n * 1000:.1f} ms/stage, by hand "
        f"(git worktree add + command + remove) {base / n * 1000:.1f} ms/stage, "
        f"ratio {ours / base:.2f}x"
    )


if __name__ == "__main__":
    main()
