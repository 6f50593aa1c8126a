"""Send N requests to one URL, print latency percentiles, fail when p95 is over budget.

A stand-in load test until cdtui gets a built-in load stage. Each client keeps one connection
alive for all its requests, as browsers and the router do: a fresh connection per request hides
stalls that only reused connections have (the shop once took ~44 ms a request that way).
Bounded: each request has a timeout and the whole run a deadline, so a hung server fails the
stage instead of stalling it. Under cdtui (``CDTUI_METRICS`` set) it also appends its figures
there as JSON lines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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


@dataclass(frozen=True, slots=True)
class Target:
    """Where the GETs go: host, port and the path with its query."""

    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported, got {url!r}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.hostname, parts.port or 80, path)

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        """Opened lazily by the first request, and again after the server closes it."""
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def fetch(conn: http.client.HTTPConnection, path: str) -> str | None:
    """One GET on a kept-alive connection, body read fully; an error label, or None on a 2xx.

    After a failure the connection is closed; http.client reopens it for the next request.
    """
    try:
        conn.request("GET", path)
        with conn.getresponse() as response:
            response.read()
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return f"{type(exc).__name__}: {exc}"


def run(url: str, requests: int, concurrency: int, timeout: float, deadline: float) -> Results:
    """``requests`` GETs from ``concurrency`` clients, each on its own kept-alive connection;
    none start after the deadline."""
    target = Target.of(url)
    results = Results()
    stop_at = time.monotonic() + deadline
    tickets: Iterator[int] = iter(range(requests))
    take = threading.Lock()

    def client() -> None:
        conn = target.connect(timeout)
        try:
            while True:
                with take:
                    if next(tickets, None) is None:
                        return
                if time.monotonic() > stop_at:
                    results.record(None, "not sent: deadline passed")
                    continue
                started = time.perf_counter()
                error = fetch(conn, target.path)
                results.record((time.perf_counter() - started) * 1000, error)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(min(concurrency, requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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
    try:
        Target.of(args.url)
    except ValueError as exc:
        parser.error(str(exc))

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
        f" concurrency {args.concurrency} (kept-alive connections), errors {results.error_count}"
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
