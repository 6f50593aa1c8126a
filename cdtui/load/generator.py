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
    """Each outcome lands in this second's stats (and its scenario's); ``take_window`` folds
    the second into the run's totals, so a request is recorded once, not three times."""

    labels: list[str]
    total: Stats = field(default_factory=Stats)
    window: Stats = field(default_factory=Stats)
    lag: Histogram = field(default_factory=Histogram)
    by_label: dict[str, Stats] = field(default_factory=dict)
    answers: int = 0  # answered requests so far (totals lag a second behind)
    _windows: dict[str, Stats] = field(default_factory=dict)  # this second, by scenario

    def __post_init__(self) -> None:
        split = len(self.labels) > 1
        for label in self.labels:
            self.by_label[label] = Stats() if split else self.total
            if split:
                self._windows[label] = Stats()

    def answered(self, label: str, micros: int, status: int) -> None:
        self.answers += 1
        self.window.answered(micros, status)
        if self._windows:
            self._windows[label].answered(micros, status)

    def unanswered(self, label: str, micros: int, kind: str, detail: str) -> None:
        self.window.unanswered(micros, kind, detail)
        if self._windows:
            self._windows[label].unanswered(micros, kind, detail)

    def take_window(self) -> Stats:
        """This second's stats, now also counted in the totals."""
        window, self.window = self.window, Stats()
        self.total.merge(window)
        for label, stats in self._windows.items():
            self.by_label[label].merge(stats)
            self._windows[label] = Stats()
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
        self.sent = 0
        self.send_elapsed = 0.0  # seconds from the start to the last send
        self.send_cpu = 0.0  # CPU seconds spent meanwhile
        self.cpu_started = time.process_time()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_flight(self) -> int:
        return sum(pool.in_flight for pool in self.pools.values())

    @property
    def queued(self) -> int:
        """Requests that waited for a free connection (the pool's limit, not the server)."""
        return sum(pool.queued for pool in self.pools.values())

    def stop(self) -> None:
        self.stopped.set()

    async def run(self, start: float) -> None:
        """Send from ``start`` (the loop's clock) until the plan's end or ``stop()``; then wait
        for answers still due (each bounded by the request timeout)."""
        loop = self._loop = asyncio.get_running_loop()
        if start > loop.time():
            await asyncio.sleep(start - loop.time())
        self.cpu_started = time.process_time()
        if self.plan.get("vus"):
            await self._closed(start)
        else:
            await self._open(start)
        self.send_elapsed = loop.time() - start
        self.send_cpu = time.process_time() - self.cpu_started
        for pool in self.pools.values():
            await pool.drain(self.timeout + 1)
        for pool in self.pools.values():
            pool.close()

    def _done(self, status: int | None, error: BaseException | None, label: str, since: float):
        """A request ended: its latency from ``since`` (when it was due, in the open model)."""
        assert self._loop is not None
        micros = int((self._loop.time() - since) * 1_000_000)
        if error is None:
            self.recorder.answered(label, micros, status or 0)
        else:
            self.recorder.unanswered(label, micros, error_kind(error), describe_error(error))

    # -- open model -------------------------------------------------------------------------
    def _due(self) -> Iterator[tuple[int, float]]:
        stages = [tuple(s) for s in self.plan.get("stages") or []]
        offsets = arrivals(self.plan.get("rate"), stages, float(self.plan["duration"]))
        return mine(offsets, self.index, self.count)

    async def _open(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        lag = self.recorder.lag
        targets, cycle, pools, done = self.targets, self.cycle, self.pools, self._done
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
            if pools[target.origin].start(target.payload, done, target.label, due):
                self.sent += 1  # else never sent: the parent counts it as dropped

    # -- closed model -----------------------------------------------------------------------
    async def _closed(self, start: float) -> None:
        """Each user sends its next request from the callback of its last one."""
        loop = asyncio.get_running_loop()
        share, extra = divmod(int(self.plan["vus"]), self.count)
        users = share + (1 if self.index < extra else 0)
        end = start + float(self.plan["duration"])
        counter = iter(range(self.index, 1 << 62, self.count))
        finished = loop.create_future()
        left = users

        def send() -> None:
            target = self.targets[self.cycle[next(counter) % len(self.cycle)]]
            self.sent += 1
            self.pools[target.origin].start(target.payload, answered, target.label, loop.time())

        def answered(status: int | None, error: BaseException | None, label: str, since: float):
            nonlocal left
            self._done(status, error, label, since)
            if self.stopped.is_set() or loop.time() >= end:
                left -= 1
                if not left and not finished.done():
                    finished.set_result(None)
            elif error is not None and not self.recorder.answers:
                loop.call_later(0.01, send)  # nothing answers: do not spin on refusals
            else:
                send()

        for _ in range(users):
            send()
        stopping = loop.create_task(self.stopped.wait())
        await asyncio.wait([finished, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()


def cpu_share(since_cpu: float, since_wall: float) -> float:
    """This process's CPU over the wall time since, in percent of one core."""
    wall = time.monotonic() - since_wall
    return 100.0 * (time.process_time() - since_cpu) / wall if wall > 0 else 0.0
