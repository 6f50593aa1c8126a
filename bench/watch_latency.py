"""``cdtui watch``: file save to the re-run's first output line, and watcher CPU while idle.

Latency: a real ``cdtui watch`` process over a small project; each sample writes a file and times
the trigger line (``━━ watch ...``) and the stage's first output line. Baseline from the same
run: a bare watchfiles loop (its default 50 ms step, like watchexec's 50 ms debounce) printing on
change. Idle CPU: both watching a generated 10,000-file tree, CPU time read from /proc over the
window, as % of one core. Targets: p50 <= 300 ms; idle < 1% of a core.
Usage: python bench/watch_latency.py [--samples 15] [--files 10000] [--idle 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import drop_project, temp_project

PIPELINE = """\
project: bench
phases:
  - name: Commit
    stages:
      - {name: unit, run: "echo ran $(cat src.txt)"}
"""
BARE_LOOP = """\
import sys
from watchfiles import watch
print("ready", flush=True)
for changes in watch(sys.argv[1]):
    print("changed", *sorted(p for _, p in changes), flush=True)
"""
TICKS = os.sysconf("SC_CLK_TCK")


class Lines:
    """A child process's stdout, line by line on a thread, each with its arrival time."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), line))

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        deadline = time.perf_counter() + timeout
        while (left := deadline - time.perf_counter()) > 0:
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if text in line:
                return at
        raise SystemExit(f"no line with {text!r} in {timeout:g}s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cdtui_watch(project: Path) -> Lines:
    argv = [sys.executable, "-m", "cdtui.cli", "watch", str(project), "--no-initial"]
    watcher = Lines(argv, project)
    watcher.wait_for("watching")
    return watcher


def bare_watch(project: Path) -> Lines:
    watcher = Lines([sys.executable, "-c", BARE_LOOP, str(project)], project)
    watcher.wait_for("ready")
    return watcher


def make_tree(project: Path, files: int) -> None:
    """The pipeline, the file the samples save, and ``files`` more in 100-file folders."""
    (project / "cdtui.yaml").write_text(PIPELINE)
    (project / "src.txt").write_text("start")
    per_dir = 100
    for n in range(files):
        folder = project / "src" / f"d{n // per_dir:03d}"
        if n % per_dir == 0:
            folder.mkdir(parents=True)
        (folder / f"f{n % per_dir:03d}.py").write_text("x = 1\n")


def idle_share(watcher: Lines, seconds: float) -> float:
    """% of one core the watcher uses over ``seconds`` in which nothing changes."""
    time.sleep(0.3)  # settled: the last run's summary and flushes are not idle work
    cpu, wall = watcher.cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    return 100 * (watcher.cpu_seconds() - cpu) / (time.perf_counter() - wall)


def measure(samples: int, files: int, idle: float) -> dict[str, list[float] | float]:
    """Latencies (ms) and idle CPU (%) of cdtui watch, then of the bare loop, on one tree."""
    project = temp_project()
    make_tree(project, files)
    found: dict[str, list[float] | float] = {"trigger": [], "first": [], "bare": []}
    try:
        ours = cdtui_watch(project)
        time.sleep(0.2)  # the watcher thread is up
        for n in range(samples):
            saved = time.perf_counter()
            (project / "src.txt").write_text(f"v{n}")
            found["trigger"].append(1000 * (ours.wait_for("src.txt → run Commit") - saved))
            found["first"].append(1000 * (ours.wait_for(f"ran v{n}") - saved))
            ours.wait_for("watching for changes")
        found["idle"] = idle_share(ours, idle)
        ours.stop()
        base = bare_watch(project)
        time.sleep(0.2)
        for n in range(samples):
            saved = time.perf_counter()
            (project / "src.txt").write_text(f"b{n}")
            found["bare"].append(1000 * (base.wait_for("changed") - saved))
            time.sleep(0.1)
        found["bare_idle"] = idle_share(base, idle)
        base.stop()
    finally:
        drop_project(project)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=5.0, help="Seconds of idle measured.")
    parser.add_argument("--quick", action="store_true", help="3 samples, 2,000 files, 0.5 s idle.")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.files, args.idle = 3, 2_000, 0.5
    found = measure(args.samples, args.files, args.idle)
    trigger, first, bare = found["trigger"], found["first"], found["bare"]
    ours, base = found["idle"], found["bare_idle"]
    p50 = statistics.median
    print(f"save -> trigger line      p50 {p50(trigger):6.1f} ms  max {max(trigger):6.1f} ms")
    print(f"save -> first stage line  p50 {p50(first):6.1f} ms  max {max(first):6.1f} ms")
    print(f"bare watchfiles loop      p50 {p50(bare):6.1f} ms  max {max(bare):6.1f} ms")
    print(
        f"ratio first line / bare: {p50(first) / p50(bare):.2f}x "
        f"(target p50 <= 300 ms: {'met' if p50(first) <= 300 else 'MISSED'})"
    )
    print(
        f"idle CPU over {args.files} files, {args.idle:g}s: cdtui watch {ours:.2f}% of a core, "
        f"bare watchfiles {base:.2f}%"
    )
    print(
        f"ratio idle cdtui / bare: {f'{ours / base:.2f}x' if base else 'n/a (bare used 0)'} "
        f"(target < 1%: {'met' if ours < 1 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
