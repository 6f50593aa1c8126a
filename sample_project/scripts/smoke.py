"""Send N requests to one URL, print latency percentiles, fail when p95 is over budget.

A stand-in load test until cdtui gets a built-in load stage. Bounded: each request has a
timeout and the whole run a deadline, so a hung server fails the stage instead of stalling it.
Under cdtui (``CDTUI_METRICS`` set) it also appends its figures there as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass(slots=True)
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency_ms: float | None, error: str | None) -> None:
        with self.lock:
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least pct% of values at or below it."""
    if not values:
        raise ValueError("no values")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def fetch(url: str, timeout: float) -> str | None:
    """One GET, body read fully; returns an error label or None on a 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}"


def run(url: str, requests: int, concurrency: int, timeout: float, deadline: float) -> Results:
    """Fire ``requests`` GETs from ``concurrency`` threads; none start after the deadline."""
    results = Results()
    stop_at = time.monotonic() + deadline

    def one(_: int) -> None:
        if time.monotonic() > stop_at:
            results.record(None, "not sent: deadline passed")
            return
        started = time.perf_counter()
        error = fetch(url, timeout)
        results.record((time.perf_counter() - started) * 1000, error)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    return results


def write_metrics(path: str, results: Results, p95_budget: float, max_errors: int) -> None:
    """Append the run's figures as cdtui metric lines (p95 and errors carry their limits)."""
    lines = [
        {"name": "requests", "value": len(results.latencies_ms)},
        {"name": "errors", "value": results.error_count, "threshold": max_errors, "op": "<="},
    ]
    if results.latencies_ms:
        p50, p95 = (percentile(results.latencies_ms, pct) for pct in (50, 95))
        lines[:0] = [
            {"name": "p50", "value": round(p50, 3), "unit": "ms"},
            {
                "name": "p95",
                "value": round(p95, 3),
                "unit": "ms",
                "threshold": p95_budget,
                "op": "<=",
            },
        ]
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=100, help="how many GETs (default 100)")
    parser.add_argument("--p95-ms", type=float, required=True, help="latency budget for p95")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel clients (default 4)")
    parser.add_argument("--max-errors", type=int, default=0, help="failed requests allowed")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request seconds")
    parser.add_argument("--deadline", type=float, default=30.0, help="whole-run seconds")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")

    started = time.perf_counter()
    results = run(args.url, args.requests, args.concurrency, args.timeout, args.deadline)
    elapsed = time.perf_counter() - started
    latencies = results.latencies_ms
    if os.environ.get("CDTUI_METRICS"):
        write_metrics(os.environ["CDTUI_METRICS"], results, args.p95_ms, args.max_errors)
    if not latencies:
        print(f"FAIL: no request completed within {args.deadline:g}s")
        return 1
    p50, p95, p99 = (percentile(latencies, pct) for pct in (50, 95, 99))
    rate = len(latencies) / elapsed
    print(
        f"{args.url}: {len(latencies)}/{args.requests} requests in {elapsed:.2f}s ({rate:.0f}/s),"
        f" concurrency {args.concurrency}, errors {results.error_count}"
    )
    print(f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms  max {max(latencies):.1f} ms")
    for label, count in sorted(results.errors.items()):
        print(f"  {count} x {label}")
    failed = False
    if p95 > args.p95_ms:
        print(f"FAIL: p95 {p95:.1f} ms is over the {args.p95_ms:g} ms budget")
        failed = True
    if results.error_count > args.max_errors:
        print(f"FAIL: {results.error_count} failed requests, {args.max_errors} allowed")
        failed = True
    if not failed:
        print(f"OK: p95 within {args.p95_ms:g} ms, {results.error_count} errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
