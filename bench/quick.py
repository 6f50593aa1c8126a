"""Every bench once, tiny (``--quick``), so none can rot unnoticed: CI runs this, figures unjudged.

Each ``bench/*.py`` (but ``_common.py`` and this file) runs as its own process with
``sys.executable``, one after the other (they measure: running them side by side on a small
machine would only measure each other). A bench passes when it exits 0 within its timeout and
printed its figure as a ratio (the word "ratio" on stdout), as every bench promises.
Usage: python bench/quick.py [--timeout 60] [-v] [NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"_common.py", Path(__file__).name}


def benches(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    if names:
        found = [p for p in found if p.stem in names or p.name in names]
    return found


def run_one(script: Path, timeout: float) -> tuple[bool, float, str]:
    """(passed, seconds, output); a bench over its timeout is killed with everything it started
    in its session (backends, sshd, routers), so one hang cannot stall the rest."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), "--quick"],
        cwd=HERE.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        passed = proc.returncode == 0 and "ratio" in output
        if proc.returncode == 0 and not passed:
            output += "\n(quick.py: exited 0 but printed no ratio)"
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n(quick.py: killed after {timeout:g}s)"
        passed = False
    return passed, time.perf_counter() - began, output


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help="Only these benches (file stems).")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds per bench.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show each bench's output.")
    args = parser.parse_args()
    scripts = benches(args.names)
    if not scripts:
        print(f"no bench matches {args.names}")
        return 2
    failed: list[str] = []
    began = time.perf_counter()
    for script in scripts:
        passed, seconds, output = run_one(script, args.timeout)
        print(f"{script.stem:<24} {seconds:6.1f}s  {'ok' if passed else 'FAILED'}", flush=True)
        if not passed:
            failed.append(script.stem)
        if args.verbose or not passed:
            lines = output.rstrip().splitlines()
            shown = lines if args.verbose else lines[-25:]
            print("\n".join(f"    {line}" for line in shown), flush=True)
    total = time.perf_counter() - began
    verdict = f"{len(failed)} FAILED: {', '.join(failed)}" if failed else "all ok"
    print(f"{len(scripts)} benches in {total:.1f}s, {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
