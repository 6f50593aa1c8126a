"""What the monitor costs and how fast it acts.

1. One monitor checking 200 HTTP targets every 1 s (a backend in another process): CPU share of
   one core and check-time jitter p99 (targets: < 5% of a core, < 50 ms), vs a baseline in the
   same run: the same checks made by a bare asyncio loop with no rules, store or snapshot.
2. Detect-to-action: a backend breaks; from then until the alert's action ran, in check
   intervals, vs the target failure threshold x interval + one interval.
Usage: python bench/monitor_scale.py [--targets 200] [--seconds 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import drop_project, temp_project

from cdtui.engine.events import MonitorActionTaken
from cdtui.monitor.checks import run_check
from cdtui.monitor.watched import spread
from cdtui.session import Session

# The targets stand for services on other machines: a lean asyncio responder in its own process,
# so its CPU does not count as the monitor's. GET /_fault/on|off makes /health answer 500|200.
BACKEND = """
import asyncio
state = {"fault": False}
class Health(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.data = transport, b""
    def data_received(self, data):
        self.data += data
        if b"\\r\\n\\r\\n" not in self.data:
            return
        path = self.data.split(b" ", 2)[1]
        if path.startswith(b"/_fault/"):
            state["fault"] = path.endswith(b"on")
        status = b"500 Fault" if state["fault"] and path.startswith(b"/health") else b"200 OK"
        self.transport.write(b"HTTP/1.1 " + status + b"\\r\\nContent-Length: 2\\r\\n"
                             b"Connection: close\\r\\n\\r\\nok")
        self.transport.close()
async def main():
    server = await asyncio.get_running_loop().create_server(Health, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


WARM = 1.0  # seconds of start-up left out of the figures


def start_backend() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", BACKEND], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def project_with(targets: int, port: int, interval: float, alert: dict | None) -> Path:
    project = temp_project()
    checks = [
        {"name": f"t{i}", "http": f"http://127.0.0.1:{port}/health?t={i}", "timeout": 1}
        for i in range(targets)
    ]
    monitor = {"interval": interval, "checks": checks, "alerts": [alert] if alert else []}
    pipeline = {
        "project": "bench",
        "monitor": monitor,
        "phases": [{"name": "Commit", "stages": [{"name": "unit", "run": "true"}]}],
    }
    (project / "cdtui.yaml").write_text(json.dumps(pipeline))
    return project


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


async def monitored(project: Path, seconds: float) -> tuple[float, float, int]:
    """(CPU share of a core, jitter p99 ms, checks made) of the monitor over ``seconds``."""
    session = Session(project)
    assert not session.load()
    service = session.monitor()
    task = asyncio.create_task(service.run())
    await service.ready.wait()
    await asyncio.sleep(WARM)  # past the start-up
    for watched in service.checks.values():
        watched.lateness.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    made = sum(len(w.lateness) for w in service.checks.values())
    late = [x * 1000 for w in service.checks.values() for x in w.lateness]
    service.stop()
    await task
    session.close()
    return cpu / wall, p99(late), made


async def bare(project: Path, seconds: float) -> tuple[float, float, int]:
    """The same checks on the same clocks (spread alike), nothing done with their results."""
    session = Session(project)
    assert not session.load()
    from cdtui.config.monitor import merged

    spec = merged(session.pipeline)
    assert spec is not None
    lateness: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(check, offset: float) -> None:
        conditions = check.conditions
        next_at = loop.time() + offset
        await asyncio.sleep(offset)
        while True:
            lateness.append(loop.time() - next_at)
            await run_check(check, conditions)
            next_at += spec.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    count = len(spec.checks)
    tasks = [
        asyncio.create_task(one(c, spread(i, count, spec.interval)))
        for i, c in enumerate(spec.checks)
    ]
    await asyncio.sleep(WARM)
    lateness.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    made = len(lateness)
    late = [x * 1000 for x in lateness]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    session.close()
    return cpu / wall, p99(late), made


async def detect_to_action(port: int, interval: float, after: int) -> float:
    """Intervals from a fault to its alert's action having run."""
    alert = {"name": "down", "check": "t0", "after": after, "actions": ["notify"]}
    project = project_with(1, port, interval, alert)
    session = Session(project)
    assert not session.load()
    acted = asyncio.Event()
    session.bus.subscribe(lambda e: isinstance(e, MonitorActionTaken) and acted.set())
    service = session.monitor()
    task = asyncio.create_task(service.run())
    await service.ready.wait()
    await asyncio.sleep(interval * 2.5)  # a phase between the clock and the fault, as in life
    broke = time.perf_counter()
    await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/_fault/on", None, 5)
    await asyncio.wait_for(acted.wait(), timeout=interval * (after + 10))
    took = time.perf_counter() - broke
    await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/_fault/off", None, 5)
    service.stop()
    await task
    session.close()
    drop_project(project)
    return took / interval


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3, help="detect-to-action runs")
    parser.add_argument("--quick", action="store_true", help="A few seconds, for CI.")
    args = parser.parse_args()
    if args.quick:
        global WARM
        WARM, args.targets, args.seconds, args.runs = 0.2, 50, 1.2, 1
    os.environ.setdefault("CDTUI_STATE_DIR", ".cdtui")
    backend, port = start_backend()
    try:
        project = project_with(args.targets, port, args.interval, None)
        ours = asyncio.run(monitored(project, args.seconds))
        base = asyncio.run(bare(project, args.seconds))
        drop_project(project)
        print(f"{args.targets} targets every {args.interval:g}s for {args.seconds:g}s:")
        for name, (share, jitter, made) in (("monitor", ours), ("bare loop", base)):
            print(
                f"  {name:<10} CPU {share:6.1%} of a core   jitter p99 {jitter:6.1f} ms   "
                f"{made} checks"
            )
        ratio = ours[0] / base[0] if base[0] else float("inf")
        verdict = "ok" if ours[0] < 0.05 and ours[1] < 50 else "OVER TARGET"
        print(
            f"  CPU ratio monitor/bare: {ratio:.2f}x (target < 5% of a core, jitter p99 "
            f"< 50 ms: {verdict})"
        )
        interval = 0.1 if args.quick else args.interval
        after = 3
        runs = [asyncio.run(detect_to_action(port, interval, after)) for _ in range(args.runs)]
        target = after + 1
        median = statistics.median(runs)
        print(
            f"detect-to-action: {median:.2f} intervals of {interval:g}s (runs: "
            + ", ".join(f"{r:.2f}" for r in runs)
            + f"); target {after} x interval + 1 = "
            f"{target}: ratio {median / target:.2f}"
        )
    finally:
        backend.kill()
        backend.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
