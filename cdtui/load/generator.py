"""The two load models, run inside one worker process.

Open model: request n is due at ``t0 + offset(n)`` whatever the server does; its latency is
``answered - due``, so a stalled server shows in every request that should have been sent during
the stall (no coordinated omission). Closed model: ``vus`` loops, each sending its next request
when the previous one is answered (what a fixed pool of users does; it hides stalls).
The generator also measures itself: its CPU and how late it sent (``lag``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cdtui.load.client import Origin, Pool, describe_error, error_kind
from cdtui.load.histogram import Histogram
from cdtui.load.schedule import arrivals, mine
from cdtui.load.stats import Stats

LATE_END = 0.5
"""Seconds past the end a generator behind its schedule keeps sending before it gives up."""


@dataclass(frozen=True, slots=True)
class Target:
    """One request, as bytes ready to write, and where to send it."""

    label: str
    origin: Origin
    payload: bytes


def target_of(data: dict) -> Target:
    """From the plan's request: url, method, headers, body, label."""
    parts = urlsplit(data["url"])
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    body = (data.get("body") or "").encode()
    headers = {"Host": parts.netloc, "User-Agent": "cdtui-load", **data.get("headers", {})}
    if body or data.get("method", "GET") not in ("GET", "HEAD"):
        headers["Content-Length"] = str(len(body))
    head = f"{data.get('method', 'GET')} {path} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    return Target(data["label"], Origin(host, port), head.encode("latin-1") + body)


def weighted_cycle(weights: list[int]) -> list[int]:
    """Indices in smooth weighted round robin: exact proportions over each cycle, interleaved."""
    current = [0] * len(weights)
    total = sum(weights)
    order = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=current.__getitem__)
        current[best] -= total
        order.append(best)
    return order


@dataclass
class Recorder:
    """Every request's outcome lands in the run's totals, its scenario's and this second's."""

    labels: list[str]
    total: Stats = field(default_factory=Stats)
    window: Stats = field(default_factory=Stats)
    lag: Histogram = field(default_factory=Histogram)
    by_label: dict[str, Stats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label in self.labels:
            self.by_label[label] = self.total if len(self.labels) == 1 else Stats()

    def _all(self, label: str) -> tuple[Stats, ...]:
        mine = self.by_label[label]
        return (self.total, self.window) if mine is self.total else (self.total, mine, self.window)

    def answered(self, label: str, micros: int, status: int) -> None:
        for stats in self._all(label):
            stats.answered(micros, status)

    def unanswered(self, label: str, micros: int, kind: str, detail: str) -> None:
        for stats in self._all(label):
            stats.unanswered(micros, kind, detail)

    def take_window(self) -> Stats:
        window, self.window = self.window, Stats()
        return window


class Generator:
    """Runs one worker's share of the plan (``cdtui.load.worker`` gives it from the parent)."""

    def __init__(self, plan: dict, index: int = 0, count: int = 1) -> None:
        self.plan = plan
        self.index, self.count = index, count
        self.targets = [target_of(r) for r in plan["requests"]]
        self.cycle = weighted_cycle([int(r.get("weight", 1)) for r in plan["requests"]])
        self.timeout = float(plan["timeout"])
        limit = max(1, int(plan["connections"]) // count)
        self.pools = {t.origin: Pool(t.origin, limit, self.timeout) for t in self.targets}
        self.recorder = Recorder([t.label for t in self.targets])
        self.stopped = asyncio.Event()
        self.in_flight: set[asyncio.Task] = set()
        self.sent = 0
        self.send_elapsed = 0.0  # seconds from the start to the last send
        self.send_cpu = 0.0  # CPU seconds spent meanwhile
        self.cpu_started = time.process_time()

    def stop(self) -> None:
        self.stopped.set()

    async def run(self, start: float) -> None:
        """Send from ``start`` (the loop's clock) until the plan's end or ``stop()``; then wait
        for answers still due (each bounded by the request timeout)."""
        loop = asyncio.get_running_loop()
        if start > loop.time():
            await asyncio.sleep(start - loop.time())
        self.cpu_started = time.process_time()
        if self.plan.get("vus"):
            await self._closed(start)
        else:
            await self._open(start)
        self.send_elapsed = loop.time() - start
        self.send_cpu = time.process_time() - self.cpu_started
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=self.timeout + 1)
        for pool in self.pools.values():
            pool.close()

    # -- open model -------------------------------------------------------------------------
    def _due(self) -> Iterator[tuple[int, float]]:
        stages = [tuple(s) for s in self.plan.get("stages") or []]
        offsets = arrivals(self.plan.get("rate"), stages, float(self.plan["duration"]))
        return mine(offsets, self.index, self.count)

    async def _open(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        lag = self.recorder.lag
        targets, cycle = self.targets, self.cycle
        give_up = start + float(self.plan["duration"]) + LATE_END
        for n, offset in self._due():
            if self.stopped.is_set():
                return
            due = start + offset
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            elif now > give_up:
                return  # too far behind: what is left is never sent (the parent counts it)
            lag.record(int((now - due) * 1_000_000))
            target = targets[cycle[n % len(cycle)]]
            task = loop.create_task(self._one(target, due))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
            self.sent += 1

    async def _one(self, target: Target, since: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            status = await self.pools[target.origin].send(target.payload, self.timeout)
        except Exception as error:
            micros = int((loop.time() - since) * 1_000_000)
            self.recorder.unanswered(target.label, micros, error_kind(error), describe_error(error))
        else:
            micros = int((loop.time() - since) * 1_000_000)
            self.recorder.answered(target.label, micros, status)

    # -- closed model -----------------------------------------------------------------------
    async def _closed(self, start: float) -> None:
        share, extra = divmod(int(self.plan["vus"]), self.count)
        vus = share + (1 if self.index < extra else 0)
        end = start + float(self.plan["duration"])
        counter = iter(range(self.index, 1 << 62, self.count))
        await asyncio.gather(*(self._user(end, counter) for _ in range(vus)))

    async def _user(self, end: float, counter: Iterator[int]) -> None:
        loop = asyncio.get_running_loop()
        cycle = self.cycle
        while not self.stopped.is_set() and loop.time() < end:
            target = self.targets[cycle[next(counter) % len(cycle)]]
            self.sent += 1
            await self._one(target, loop.time())
            if self.recorder.total.requests and not self.recorder.total.latency.count:
                await asyncio.sleep(0.01)  # nothing answers: do not spin on refusals


def cpu_share(since_cpu: float, since_wall: float) -> float:
    """This process's CPU over the wall time since, in percent of one core."""
    wall = time.monotonic() - since_wall
    return 100.0 * (time.process_time() - since_cpu) / wall if wall > 0 else 0.0
