"""Log pane under a flood: how fast it keeps up, and what the flood costs the UI loop.

A subprocess writes N lines flat out, in chunks, through the run store's ``LogBook`` (log file +
``.idx``, flushed every 100 ms); a headless app (120x40) with one ``LogPane`` refreshes at 10 Hz
and follows the tail. Measured in the same run, from spawn until the pane (or baseline) has all N
lines: (a) asyncio ``readline()`` of the same producer's stdout, (b) raw ``read(65536)`` + decode.
During the flood: event-loop lag (a 10 ms sleep loop in the app), key-to-handler latency (End,
what an operator presses in a flood, by the pilot every 50 ms; every 100 ms with four panes), and
VmRSS/VmHWM afterwards. Then four panes, each following a file written at 1,000 lines/s for 5 s:
lag p99 (again with ``gc.freeze()`` after mount, which keeps the app's startup objects out of
every full collection).
Targets: >= 1.0x readline, >= 20% of chunked read, lag p99 <= 25 ms, key p99 <= 50 ms,
peak RSS <= 100 MB at 10M lines (``--lines 10000000``).
Usage: python bench/console_log_throughput.py [--lines 1000000] [--runs 3] [--no-four] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import Grid

from cdtui.store.logs import log_path
from cdtui.ui.widgets.log_pane import LogPane

ROOT = Path(__file__).resolve().parents[1]
KEY = (1, "bench", "flood", 1)
PRODUCER = r"""
import sys, time
from pathlib import Path
mode, total, per_chunk, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
colour = ("\x1b[32mok\x1b[0m", "\x1b[31mretry\x1b[0m")
rows = [
    [
        f"{k:02d}-{i:05d} 2024-05-01T10:31:02.123Z INFO worker-{i % 8} GET /api/items/"
        f"{i * 7919 % 100000} in {i % 97} ms {colour[i % 5 == 0]}\n"
        for i in range(per_chunk)
    ]
    for k in range(16)
]
chunks = ["".join(r) for r in rows]
tail = "".join(rows[0][: total % per_chunk])
if mode == "log":
    from cdtui.store.logs import LogBook
    book = LogBook(Path(sys.argv[5]))
    key = (1, "bench", "flood", 1)
    write = lambda text: book.write(key, time.time(), "stdout", text)
else:
    out = sys.stdout.buffer
    chunks, tail = [c.encode() for c in chunks], tail.encode()
    write = out.write
began = time.monotonic()
for k in range(total // per_chunk):
    if rate:
        delay = began + k * per_chunk / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    write(chunks[k % 16])
if tail:
    write(tail)
if mode == "log":
    book.close()
else:
    out.flush()
"""


def producer(mode: str, lines: int, per_chunk: int, rate: float = 0, *extra: str) -> list[str]:
    return [sys.executable, "-c", PRODUCER, mode, str(lines), str(per_chunk), str(rate), *extra]


def memory() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


class FullCollections:
    """Durations of the garbage collector's full (generation 2) passes: the biggest lag spikes."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._began = 0.0

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._began = time.perf_counter()
            else:
                self.durations.append(time.perf_counter() - self._began)

    def __str__(self) -> str:
        worst = ms(max(self.durations)) if self.durations else "-"
        return f"{len(self.durations)} full GC passes, longest {worst}"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def spawn(argv: list[str], stdout: int | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=stdout)


async def readline_baseline(lines: int, per_chunk: int) -> float:
    began = time.perf_counter()
    proc = await spawn(producer("stdout", lines, per_chunk), asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    count = 0
    while await proc.stdout.readline():
        count += 1
    elapsed = time.perf_counter() - began
    await proc.wait()
    assert count == lines, count
    return elapsed


async def chunked_baseline(lines: int, per_chunk: int) -> float:
    began = time.perf_counter()
    proc = await spawn(producer("stdout", lines, per_chunk), asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    count = 0
    while data := await proc.stdout.read(65536):
        count += data.decode("utf-8", "replace").count("\n")
    elapsed = time.perf_counter() - began
    await proc.wait()
    assert count == lines, count
    return elapsed


class Flood(App):
    """The console's shape, reduced: log panes and the ONE shared 10 Hz refresh timer."""

    CSS = "Grid { grid-size: 2 2; }"

    def __init__(self, paths: list[Path], target: int) -> None:
        super().__init__()
        self.paths, self.target = paths, target
        self.reached: float | None = None
        self.keys: list[float] = []

    def compose(self) -> ComposeResult:
        if len(self.paths) == 1:
            yield LogPane(self.paths[0], "flood")
        else:
            with Grid():
                for n, path in enumerate(self.paths):
                    yield LogPane(path, f"pane {n}")

    def on_mount(self) -> None:
        self.set_interval(0.1, self.tick)
        self.query_one(LogPane).focus()

    def tick(self) -> None:
        for pane in self.query(LogPane):
            pane.refresh_from_disk()

    def on_log_pane_status_changed(self, message: LogPane.StatusChanged) -> None:
        if self.reached is None and message.line_count >= self.target and len(self.paths) == 1:
            self.reached = time.perf_counter()


async def sample_lag(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - began - 0.01)


class KeyTimer:
    """Presses End and times until the pane's handler runs (not until the pilot returns).

    ``pilot.press`` returns only once the whole screen is idle, which a flood delays; so presses
    are fired as tasks and matched to handler calls in order.
    """

    def __init__(self, pane: LogPane, pilot) -> None:
        self.latencies: list[float] = []
        self._pilot = pilot
        self._pressed: deque[float] = deque()
        self._tasks: list[asyncio.Task] = []
        follow = pane.action_follow

        def timed_follow() -> None:
            if self._pressed:
                self.latencies.append(time.perf_counter() - self._pressed.popleft())
            follow()

        pane.action_follow = timed_follow  # type: ignore[method-assign]

    def press(self) -> None:
        if len(self._pressed) < 5:
            self._pressed.append(time.perf_counter())
            self._tasks.append(asyncio.create_task(self._pilot.press("end")))

    async def settle(self) -> None:
        await asyncio.gather(*self._tasks)


async def pane_run(lines: int, per_chunk: int, work: Path) -> dict:
    logs = Path(tempfile.mkdtemp(dir=work))
    app = Flood([log_path(logs, *KEY)], lines)
    lags: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.pause()
        keys = KeyTimer(pane, pilot)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_lag(lags, stop))
        began = time.perf_counter()
        proc = await spawn(producer("log", lines, per_chunk, 0, str(logs)))
        deadline = time.monotonic() + 300
        while app.reached is None:
            assert time.monotonic() < deadline, f"pane stuck at {pane.line_count:,} lines"
            keys.press()
            await asyncio.sleep(0.05)
        stop.set()
        await sampler
        await keys.settle()
        await proc.wait()
        rss, hwm = memory()
    shutil.rmtree(logs, ignore_errors=True)
    seconds = app.reached - began
    return {"seconds": seconds, "lags": lags, "keys": keys.latencies, "rss": rss, "hwm": hwm}


async def four_panes(work: Path, freeze: bool, rate: int = 1000, seconds: float = 5.0) -> dict:
    """Four panes following four slower writers; ``freeze``: ``gc.freeze()`` once mounted."""
    dirs = [Path(tempfile.mkdtemp(dir=work)) for _ in range(4)]
    lines = int(rate * seconds)
    app = Flood([log_path(d, *KEY) for d in dirs], lines)
    lags: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        if freeze:
            gc.freeze()
        keys = KeyTimer(app.query_one(LogPane), pilot)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_lag(lags, stop))
        procs = [await spawn(producer("log", lines, 10, rate, str(d))) for d in dirs]
        while any(proc.returncode is None for proc in procs):
            keys.press()
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 2
        panes = list(app.query(LogPane))
        while any(p.line_count < lines for p in panes) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await sampler
        await keys.settle()
        complete = all(p.line_count == lines for p in panes)
    gc.unfreeze()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return {"lags": lags, "keys": keys.latencies, "complete": complete}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--chunk-lines", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-four", action="store_true")
    parser.add_argument("--four-seconds", type=float, default=5.0, help="Length of the 4-pane run.")
    parser.add_argument(
        "--quick", action="store_true", help="20,000 lines, one run, 4 panes for 0.5 s: for CI."
    )
    args = parser.parse_args()
    if args.quick:
        args.lines, args.runs, args.four_seconds = 20_000, 1, 0.5
    lines, per_chunk = args.lines, args.chunk_lines
    work = Path(tempfile.mkdtemp(prefix="cdtui-bench-logs-"))
    try:
        panes, readlines, chunked = [], [], []
        with FullCollections() as collections:
            for _ in range(args.runs):  # alternating, so machine noise hits all three alike
                panes.append(await pane_run(lines, per_chunk, work))
                readlines.append(await readline_baseline(lines, per_chunk))
                chunked.append(await chunked_baseline(lines, per_chunk))
        pane_rate = lines / statistics.median(r["seconds"] for r in panes)
        line_rate = lines / statistics.median(readlines)
        chunk_rate = lines / statistics.median(chunked)
        lags = [lag for r in panes for lag in r["lags"]]
        keys = [key for r in panes for key in r["keys"]]
        print(f"{lines:,} lines of ~95 bytes, {per_chunk} lines per chunk, median of {args.runs}")
        print(
            f"pane {pane_rate / 1e6:.2f}M lines/s: ratio {pane_rate / line_rate:.2f}x readline, "
            f"{pane_rate / chunk_rate:.0%} of chunked read (targets >= 1.0x, >= 20%)"
        )
        print(f"  readline {line_rate / 1e6:.2f}M lines/s, chunked read {chunk_rate / 1e6:.2f}M/s")
        print(
            f"loop lag during the flood: p50 {ms(pct(lags, 0.5))}, p99 {ms(pct(lags, 0.99))}, "
            f"max {ms(max(lags))} (n={len(lags)}; target p99 <= 25 ms; {collections})"
        )
        print(
            f"key to handler: p50 {ms(pct(keys, 0.5))}, p99 {ms(pct(keys, 0.99))} "
            f"(n={len(keys)}; target p99 <= 50 ms)"
        )
        print(
            f"memory after {lines:,} lines: VmRSS {panes[0]['rss']:.0f} MB, "
            f"VmHWM {max(r['hwm'] for r in panes):.0f} MB (target <= 100 MB at 10M lines)"
        )
        if not args.no_four:
            for freeze in (False, True):
                with FullCollections() as collections:
                    four = await four_panes(work, freeze, seconds=args.four_seconds)
                lags, keys = four["lags"], four["keys"]
                p50, p99, worst = ms(pct(lags, 0.5)), ms(pct(lags, 0.99)), ms(max(lags))
                print(
                    f"four panes, 1,000 lines/s each for {args.four_seconds:g} s"
                    f"{', gc.freeze() after mount' * freeze}:"
                    f" lag p50 {p50}, p99 {p99}, max {worst};"
                    f" key p99 {ms(pct(keys, 0.99))} (n={len(keys)});"
                    f" all lines shown: {'yes' if four['complete'] else 'NO'}; {collections}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
