"""The parent side of load workers: one process per share of the load, started together,
their seconds merged into one progress a second and their totals into one outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cdtui.load.histogram import Histogram
from cdtui.load.stats import Stats

START_MARGIN = 0.1
"""Seconds between the last worker saying ready and the shared start."""
READY_TIMEOUT = 30.0
EXIT_GRACE = 2.0
"""Seconds a worker that sent its totals has to exit before it is killed."""


@dataclass
class Progress:
    """One second of the whole run, every worker's share merged."""

    second: int
    window: Stats
    total: Stats  # everything so far
    cpu: float  # the busiest worker's CPU that second, % of a core
    sent: int
    in_flight: int


@dataclass
class Outcome:
    total: Stats = field(default_factory=Stats)
    by_label: dict[str, Stats] = field(default_factory=dict)
    lag: Histogram = field(default_factory=Histogram)
    cpu: float = 0.0  # the busiest worker's CPU while it sent, % of a core
    cpu_seconds: float = 0.0  # all workers' CPU
    elapsed: float = 0.0  # seconds the load was sent for
    sent: int = 0
    queued: int = 0  # requests that waited for a free connection
    connections: int = 0
    workers: int = 1
    stopped: str = ""  # why the load ended early (a threshold's abort, a cancel)
    crashed: str = ""  # a worker that died: its last words


def worker_count(setting: int | str, plan: dict) -> int:
    count = (os.cpu_count() or 1) if setting == "auto" else int(setting)
    if plan.get("vus"):
        count = min(count, int(plan["vus"]))
    return max(1, count)


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ticks: list[dict] = []
        self.done: dict | None = None

    def send(self, line: str) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(line.encode() + b"\n")

    async def read(self, expect: str) -> dict:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise EOFError
        data = json.loads(line)
        if expect not in data:
            raise ValueError(f"expected {expect}, got {line[:80]!r}")
        return data[expect]

    async def pump(self, changed: Callable[[], None]) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            data = json.loads(line)
            if "tick" in data:
                self.ticks.append(data["tick"])
            elif "done" in data:
                self.done = data["done"]
            changed()
        changed()

    async def last_words(self) -> str:
        assert self.process.stderr is not None
        with contextlib.suppress(Exception):
            text = (await asyncio.wait_for(self.process.stderr.read(), 2)).decode(errors="replace")
            lines = [line for line in text.strip().splitlines() if line.strip()]
            return lines[-1] if lines else f"exit code {self.process.returncode}"
        return "no answer"


async def run_workers(
    plan: dict,
    count: int,
    on_second: Callable[[Progress], str | None],
    stop: asyncio.Event,
) -> Outcome:
    """Run ``plan`` over ``count`` processes; ``on_second`` may return a reason to stop early."""
    workers = [await _spawn() for _ in range(count)]
    outcome = Outcome(workers=count)
    try:
        for index, worker in enumerate(workers):
            worker.send(json.dumps({"plan": plan, "index": index, "count": count}))
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.read("ready") for w in workers)), READY_TIMEOUT
            )
        except (EOFError, ValueError, TimeoutError):
            outcome.crashed = "a load worker did not start: " + await _first_words(workers)
            return outcome
        start_at = time.time() + START_MARGIN
        for worker in workers:
            worker.send(json.dumps({"start_at": start_at}))
        told = await _follow(workers, outcome, on_second, stop)
        last = Stats()  # what the workers sent after their last whole second
        sending = 0.0
        for worker in workers:
            if worker.done is not None:
                last.merge(Stats.from_json(worker.done["window"]))
                sending = max(sending, float(worker.done["elapsed"]))
        if last.requests and sending - told >= 0.5:  # a sliver would draw as a false dip
            so_far = Stats()
            for worker in workers:
                if worker.done is not None:
                    so_far.merge(Stats.from_json(worker.done["total"]))
            on_second(Progress(told + 1, last, so_far, 0.0, outcome.sent, 0))
    finally:
        await asyncio.shield(_end(workers))
    _merge_done(workers, outcome)
    if not outcome.crashed and any(w.done is None for w in workers):
        outcome.crashed = "a load worker died: " + await _first_words(workers)
    return outcome


async def _end(workers: list[_Worker]) -> None:
    """A worker that told its end exits by itself: wait for it, kill only one that lingers
    (killing first races the child watcher: Popen.kill reaps, the watcher then finds no child).
    """
    for worker in workers:
        process = worker.process
        if worker.done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), EXIT_GRACE)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _spawn() -> _Worker:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdtui.load.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    return _Worker(process)


async def _first_words(workers: list[_Worker]) -> str:
    for worker in workers:
        if worker.done is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()
            return await worker.last_words()
    return "unknown"


async def _follow(
    workers: list[_Worker],
    outcome: Outcome,
    on_second: Callable[[Progress], str | None],
    stop: asyncio.Event,
) -> int:
    """Merge each second once every worker has told it; stop all when asked. Returns how
    many seconds were told."""
    changed = asyncio.Event()
    pumps = [asyncio.create_task(w.pump(changed.set)) for w in workers]
    stopper = asyncio.create_task(stop.wait())
    so_far, told = Stats(), 0
    try:
        while not all(p.done() for p in pumps):
            waiting = asyncio.create_task(changed.wait())
            watched = [waiting] if stopper.done() else [waiting, stopper]  # a told stop: once
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            changed.clear()
            if stop.is_set() and not outcome.stopped:
                outcome.stopped = "cancelled"
                for worker in workers:
                    worker.send("stop")
            while _second_told(workers, told):
                progress = _second(workers, told, so_far)
                told += 1
                reason = on_second(progress)
                if reason and not outcome.stopped:
                    outcome.stopped = reason
                    for worker in workers:
                        worker.send("stop")
    finally:
        stopper.cancel()
        for pump in pumps:
            pump.cancel()
    return told


def _second_told(workers: list[_Worker], index: int) -> bool:
    """Every worker has told second ``index`` (or is done), and one of them told it."""
    return all(len(w.ticks) > index or w.done is not None for w in workers) and any(
        len(w.ticks) > index for w in workers
    )


def _second(workers: list[_Worker], index: int, so_far: Stats) -> Progress:
    window, cpu, sent, in_flight = Stats(), 0.0, 0, 0
    for worker in workers:
        if index < len(worker.ticks):
            tick = worker.ticks[index]
            window.merge(Stats.from_json(tick["stats"]))
            cpu = max(cpu, float(tick["cpu"]))
            sent += int(tick["sent"])
            in_flight += int(tick["in_flight"])
    so_far.merge(window)
    return Progress(index + 1, window, so_far, cpu, sent, in_flight)


def _merge_done(workers: list[_Worker], outcome: Outcome) -> None:
    for worker in workers:
        done = worker.done
        if done is None:
            continue
        outcome.total.merge(Stats.from_json(done["total"]))
        for label, data in done["by_label"].items():
            outcome.by_label.setdefault(label, Stats()).merge(Stats.from_json(data))
        outcome.lag.merge(Histogram.from_json(done["lag"]))
        outcome.elapsed = max(outcome.elapsed, float(done["elapsed"]))
        outcome.cpu_seconds += float(done["cpu_seconds"])
        sending = float(done["elapsed"])  # while it sent, not while it waited for the last answers
        if sending > 0:
            outcome.cpu = max(outcome.cpu, 100.0 * float(done["send_cpu"]) / sending)
        outcome.sent += int(done["sent"])
        outcome.queued += int(done["queued"])
        outcome.connections += int(done["connections"])
