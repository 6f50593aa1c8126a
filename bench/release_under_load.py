"""A full blue -> green release and a rollback under steady load through the embedded router, then
releases where green starts failing at 50%, timed from green's first failing check to 100% blue.

Prints: failed requests of the total during release + rollback (target 0 of >= 10,000), against
the same load with no release (baseline, same run); time from green's first failing check to all
traffic on blue, in health-check intervals (target <= 2). Backends, router and load each run in
their own process(es) or threads; the rollout runs in this process as `cdtui release` would.
Usage: python bench/release_under_load.py [--rate 300] [--seconds 36] [--interval 0.5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from release_backends import serve_faulty  # noqa: E402
from routing_fixtures import (  # noqa: E402
    LoadResult,
    free_port,
    load,
    port_open,
    release_block,
    wait_for,
    write_project,
)

from cdtui.config.release import ReleaseSpec  # noqa: E402
from cdtui.engine.events import Event  # noqa: E402
from cdtui.release.control import locked, prepare, rollback  # noqa: E402
from cdtui.release.events import ReleaseStateChanged, WeightChanged  # noqa: E402
from cdtui.release.rollout import Outcome, State  # noqa: E402


def switch(url: str, on: bool) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/_fault/on" if on else "/_fault/off")
    conn.getresponse().read()
    conn.close()


def report(name: str, result: LoadResult, took: float) -> None:
    print(
        f"{name:<22} {len(result.failures)} failed of {result.total} at "
        f"{result.total / took:.0f} req/s (blue {result.colours['blue']}, "
        f"green {result.colours['green']})"
    )
    for failure in result.failures[:3]:
        print(f"{'':<22} e.g. {failure}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300.0, help="Steady load, requests/s.")
    parser.add_argument("--seconds", type=float, default=36.0, help="Length of each load run.")
    parser.add_argument("--threads", type=int, default=8, help="Load generator threads.")
    parser.add_argument("--interval", type=float, default=0.5, help="Health check interval, s.")
    parser.add_argument("--breaches", type=int, default=5, help="Faulty-green releases to time.")
    parser.add_argument("--quick", action="store_true", help="Seconds, not minutes: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.threads, args.interval, args.breaches = 50.0, 2.0, 4, 0.2, 1
    work = Path(tempfile.mkdtemp(prefix="cdtui-bench-release-"))
    spawn = multiprocessing.get_context("spawn")
    ports = {"blue": free_port(), "green": free_port()}
    servers = [
        spawn.Process(target=serve_faulty, args=(colour, port), daemon=True)
        for colour, port in ports.items()
    ]
    for server in servers:
        server.start()
    cli = [sys.executable, "-m", "cdtui.commands.router"]
    try:
        for port in ports.values():
            wait_for(lambda port=port: port_open(port), 10, "a backend")
        blue, green = (f"http://127.0.0.1:{ports[c]}" for c in ("blue", "green"))
        router_port = free_port()
        block = release_block(blue, green, router_port)
        steps_time = max(1.0, (args.seconds - 10) / 3)
        block.update(
            hold=steps_time,
            # One failed check is a breach here: the figure is the reaction, not the patience.
            health={
                "interval": args.interval,
                "timeout": args.interval,
                "preflight": 3,
                "consecutive_failures": 1,
            },
        )
        write_project(work, block)
        subprocess.run([*cli, "serve", "--detach", str(work)], check=True, capture_output=True)
        try:
            run(args, work, ReleaseSpec.model_validate(block), f"http://127.0.0.1:{router_port}")
        finally:
            subprocess.run([*cli, "stop", str(work)], check=False, capture_output=True)
    finally:
        for server in servers:
            server.terminate()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, spec: ReleaseSpec, url: str) -> None:
    began = time.monotonic()
    requests = int(args.rate * args.seconds)
    print(
        f"steady load {args.rate:.0f} req/s from {args.threads} keep-alive threads through the "
        f"embedded router; health every {args.interval:g}s; steps 10/50/100, hold "
        f"{spec.hold:.1f}s"
    )
    t0 = time.monotonic()
    base = load(
        url, threads=args.threads, requests=requests, duration=args.seconds + 10, rate=args.rate
    )
    report("no release (baseline)", base, time.monotonic() - t0)

    outcomes: list[str] = []

    def release_and_back() -> None:
        async def go() -> None:
            async with locked(spec, work) as handle:
                rollout, _ = await prepare(handle, run_id=1)
                outcomes.append((await rollout.run()).state.value)
                await asyncio.sleep(1.0)
                outcomes.append((await rollback(handle, run_id=2)).state.value)

        asyncio.run(go())

    t0 = time.monotonic()
    result = load(
        url,
        threads=args.threads,
        requests=requests,
        duration=args.seconds + 30,
        rate=args.rate,
        during=release_and_back,
    )
    report("release + rollback", result, time.monotonic() - t0)
    print(f"{'':<22} outcomes: {' then '.join(outcomes)}")
    ratio = len(result.failures) / max(1, len(base.failures))
    print(
        f"{'':<22} failed fraction {len(result.failures) / max(1, result.total):.5f} vs "
        f"baseline {len(base.failures) / max(1, base.total):.5f} (ratio {ratio:.2f} of "
        f"max(1, baseline failures))"
    )

    times = breach_runs(args, work, spec, url)
    intervals = [t / args.interval for t in times]
    print(
        f"green failing at 50%: first failing check -> 100% blue in {len(times)} runs: "
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms = "
        f"{statistics.median(intervals):.2f} / {max(intervals):.2f} intervals "
        f"(target <= 2; ratio to target {max(intervals) / 2:.2f})"
    )
    print(f"({time.monotonic() - began:.0f} s)")


def breach_runs(args: argparse.Namespace, work: Path, spec: ReleaseSpec, url: str) -> list[float]:
    """Releases straight to 50% under load; green's fault is switched on when 50% is applied."""
    green = spec.green.url
    times: list[float] = []
    failed = total = 0
    from_fault: list[float] = []
    seconds = (spec.health.preflight + 6) * args.interval + 1.0
    for _ in range(args.breaches):
        outcomes: list[Outcome] = []
        marks: dict[str, float] = {}

        def fault_at_50(event: Event, marks: dict[str, float] = marks) -> None:
            if isinstance(event, ReleaseStateChanged) and event.step == 50:
                switch(green, True)
                marks["fault"] = time.time()
            elif isinstance(event, WeightChanged) and event.applied and event.blue == 100:
                marks["blue"] = time.time()

        async def go(emit=fault_at_50) -> Outcome:
            async with locked(spec, work) as handle:
                rollout, _ = await prepare(handle, run_id=3, steps=[50, 100], emit=emit)
                return await rollout.run()

        result = load(
            url,
            threads=args.threads,
            requests=int(args.rate * seconds),
            duration=seconds,
            rate=args.rate,
            during=lambda box=outcomes, go=go: box.append(asyncio.run(go())),
        )
        switch(green, False)
        failed, total = failed + len(result.failures), total + result.total
        outcome = outcomes[0]
        if outcome.state is not State.ABORTED or outcome.breach_to_live_s is None:
            print(f"unexpected outcome: {outcome}")
            continue
        times.append(outcome.breach_to_live_s)
        from_fault.append(marks["blue"] - marks["fault"])
    print(
        f"{'faulty-green runs':<22} {failed} failed of {total} (green's 500s between its fault "
        f"and the rollback; all traffic back on blue each time)"
    )
    print(
        f"{'':<22} fault switched on -> 100% blue: median "
        f"{statistics.median(from_fault) * 1000:.0f} ms, max {max(from_fault) * 1000:.0f} ms "
        f"(includes waiting for green's next check: up to 1 interval)"
    )
    return times


if __name__ == "__main__":
    main()
