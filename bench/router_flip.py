"""Blue/green flips under steady load, through cdtui's embedded router and through HAProxy.

Prints: failed requests out of the total while flipping blue -> green in steps (10, 50, 100) and
back (target: 0 of >= 10,000 for each router); the embedded router's added p99 latency against
hitting the backend directly; its throughput against HAProxy's on the same backends (ratio).
Backends, routers and the load generator each run in their own process(es).
Usage: python bench/router_flip.py [--rate 400] [--seconds 26] [--threads 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from routing_fixtures import (  # noqa: E402
    HAPROXY,
    LoadResult,
    free_port,
    haproxy,
    load,
    port_open,
    release_block,
    serve_colour,
    wait_for,
    write_project,
)

from cdtui.config.release import RouterSpec  # noqa: E402
from cdtui.release.routers import Router, Weights  # noqa: E402
from cdtui.release.routers.embedded import EmbeddedRouter  # noqa: E402
from cdtui.release.routers.haproxy import HAProxyRouter  # noqa: E402

STEPS = (10, 50, 100, 50, 10, 0)


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[int(q * (len(ordered) - 1))] * 1000 if ordered else float("nan")


def flipper(router: Router, seconds: float) -> Callable[[], None]:
    """Flip through STEPS evenly over the run, while the load goes on."""

    def flips() -> None:
        gap = seconds / (len(STEPS) + 1)
        for green in STEPS:
            time.sleep(gap)
            asyncio.run(router.set_weights(Weights.green_percent(green)))

    return flips


def flip_run(name: str, url: str, router: Router, args: argparse.Namespace) -> LoadResult:
    requests = int(args.rate * args.seconds)
    began = time.monotonic()
    result = load(
        url,
        threads=args.threads,
        requests=requests,
        duration=args.seconds + 10,
        rate=args.rate,
        during=flipper(router, args.seconds),
    )
    took = time.monotonic() - began
    print(
        f"{name:>8} flips {'/'.join(map(str, STEPS))} under {result.total / took:.0f} req/s: "
        f"{len(result.failures)} failed of {result.total} "
        f"(blue {result.colours['blue']}, green {result.colours['green']}; target 0 of >= 10,000)"
    )
    for failure in result.failures[:3]:
        print(f"           e.g. {failure}")
    return result


def latency_run(url: str, args: argparse.Namespace) -> LoadResult:
    seconds = args.latency_seconds
    return load(
        url, threads=args.threads, requests=int(args.rate * seconds), duration=30, rate=args.rate
    )


def throughput(url: str, seconds: float = 5.0, threads: int = 16) -> float:
    began = time.monotonic()
    result = load(url, threads=threads, requests=10**9, duration=seconds)
    assert not result.failures, result.failures[:3]
    return result.total / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=400.0, help="Steady load, requests/s.")
    parser.add_argument("--seconds", type=float, default=26.0, help="Length of each flip run.")
    parser.add_argument("--threads", type=int, default=8, help="Load generator threads.")
    parser.add_argument("--rounds", type=int, default=3, help="Latency/throughput rounds.")
    parser.add_argument("--latency-seconds", type=float, default=2.0)
    parser.add_argument("--throughput-seconds", type=float, default=2.5)
    parser.add_argument("--quick", action="store_true", help="Seconds, not minutes: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.threads, args.rounds = 100.0, 2.0, 4, 1
        args.latency_seconds = args.throughput_seconds = 0.5
    if not Path(HAPROXY).exists():
        sys.exit("haproxy is not installed (apt-get install haproxy): the comparison needs it")
    work = Path(tempfile.mkdtemp(prefix="cdtui-bench-router-"))
    spawn = multiprocessing.get_context("spawn")
    ports = {"blue": free_port(), "green": free_port()}
    servers = [
        spawn.Process(target=serve_colour, args=(colour, port), daemon=True)
        for colour, port in ports.items()
    ]
    for server in servers:
        server.start()
    try:
        for port in ports.values():
            wait_for(lambda port=port: port_open(port), 10, "a backend")
        blue, green = (f"http://127.0.0.1:{ports[c]}" for c in ("blue", "green"))
        router_port = free_port()
        write_project(work, release_block(blue, green, router_port))
        cli = [sys.executable, "-m", "cdtui.commands.router"]
        subprocess.run([*cli, "serve", "--detach", str(work)], check=True, capture_output=True)
        embedded_url = f"http://127.0.0.1:{router_port}"
        embedded = EmbeddedRouter(work)
        try:
            with haproxy(work, blue, green) as (haproxy_url, sock):
                ha = HAProxyRouter(
                    RouterSpec(kind="haproxy", socket=str(sock), backend="shop"), work
                )
                run(args, blue, embedded_url, embedded, haproxy_url, ha)
        finally:
            subprocess.run([*cli, "stop", str(work)], check=False, capture_output=True)
    finally:
        for server in servers:
            server.terminate()
        shutil.rmtree(work, ignore_errors=True)


def run(
    args: argparse.Namespace,
    direct: str,
    embedded_url: str,
    embedded: Router,
    haproxy_url: str,
    ha: Router,
) -> None:
    began = time.monotonic()
    print(f"steady load {args.rate:.0f} req/s from {args.threads} keep-alive threads; 2 backends")
    flip_run("embedded", embedded_url, embedded, args)
    flip_run("haproxy", haproxy_url, ha, args)

    for router in (embedded, ha):
        asyncio.run(router.set_weights(Weights.ALL_BLUE))
    targets = {"direct": direct, "embedded": embedded_url, "haproxy": haproxy_url}
    seen: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):  # interleaved, so machine noise hits all three alike
        for name, url in targets.items():
            seen[name] += latency_run(url, args).latencies
    base, ours, theirs = seen["direct"], seen["embedded"], seen["haproxy"]
    print(
        f"latency at {args.rate:.0f} req/s, p50/p99 ms: direct {p(base, 0.5):.2f}/"
        f"{p(base, 0.99):.2f}, embedded {p(ours, 0.5):.2f}/{p(ours, 0.99):.2f}, "
        f"haproxy {p(theirs, 0.5):.2f}/{p(theirs, 0.99):.2f}"
    )
    print(
        f"embedded router adds {p(ours, 0.99) - p(base, 0.99):.2f} ms at p99 "
        f"(haproxy adds {p(theirs, 0.99) - p(base, 0.99):.2f} ms)"
    )

    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):  # interleaved, so machine noise hits all three alike
        for name, url in targets.items():
            samples[name].append(throughput(url, seconds=args.throughput_seconds))
    rates = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"throughput (median of {args.rounds}), 16 keep-alive threads, req/s: "
        f"direct {rates['direct']:.0f}, "
        f"embedded {rates['embedded']:.0f}, haproxy {rates['haproxy']:.0f}; "
        f"embedded/haproxy ratio {rates['embedded'] / rates['haproxy']:.2f}x"
    )
    print(f"({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
