"""cdtui's load generator against wrk, on the same local server in one run.

Figures: the maximum rate each reaches with the same connections (closed loop), per core each
used (target: cdtui >= 0.5x of wrk per core), p99 at that rate, CPU per 1,000 requests; then
cdtui's open model at half its maximum rate: achieved rate and p99 timed from the intended send.
The server is HAProxy answering from memory (a C server, so the generators are what is
measured); without HAProxy, the Python test server (then the server may be the limit).
wrk is Debian's ``wrk`` (``apt-get install wrk``); without it the bench says so and prints
cdtui's own figures. Usage: python bench/load_vs_wrk.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cdtui.load.workers import run_workers

CONNECTIONS = 32
HAPROXY_CONFIG = """global
    maxconn 4096
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 1s
frontend bench
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string "ok from haproxy"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit(f"the bench server on port {port} never listened")


def start_server(workdir: Path) -> tuple[subprocess.Popen, str, str]:
    """(process, url, what it is)."""
    port = free_port()
    haproxy = shutil.which("haproxy")
    if haproxy:
        config = workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=port))
        process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stderr=subprocess.DEVNULL)
        wait_listening(port)
        return process, f"http://127.0.0.1:{port}/", "haproxy (http-request return)"
    script = Path(__file__).resolve().parent.parent / "tests" / "load_server.py"
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/fast", "the Python test server (server-bound)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(url: str, seconds: float) -> dict | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    before = children_cpu()
    began = time.monotonic()
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    wall = time.monotonic() - began
    cpu = children_cpu() - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    return {"rate": rate, "p99": p99, "cpu": cpu, "cores": cpu / wall, "requests": requests}


def _wrk_ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_cdtui(url: str, seconds: float, **model: float) -> dict:
    plan = {
        "requests": [{"url": url, "label": "bench"}],
        "rate": model.get("rate"),
        "vus": model.get("vus"),
        "stages": [],
        "duration": seconds,
        "timeout": 10.0,
        "connections": CONNECTIONS * 4,
    }
    outcome = asyncio.run(run_workers(plan, 1, lambda _p: None, asyncio.Event()))
    if outcome.crashed:
        raise SystemExit(outcome.crashed)
    total = outcome.total
    wall = outcome.elapsed or seconds
    return {
        "rate": total.requests / wall,
        "p99": total.latency.percentile(99),
        "cpu": outcome.cpu_seconds,
        "cores": outcome.cpu_seconds / wall,
        "requests": total.requests,
        "lag_p99": outcome.lag.percentile(99),
        "errors": total.failed,
    }


def per_thousand(figures: dict) -> float:
    """CPU milliseconds per 1,000 requests."""
    return figures["cpu"] / max(1, figures["requests"]) * 1_000_000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="about a second per measurement")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="cdtui-load-bench-") as tmp:
        server, url, what = start_server(Path(tmp))
        try:
            print(f"server: {what} at {url}; {CONNECTIONS} connections, {seconds:g}s each")
            wrk = run_wrk(url, seconds)
            ours = run_cdtui(url, seconds, vus=CONNECTIONS)
            half = max(10.0, round(ours["rate"] / 2))
            fixed = run_cdtui(url, 0.8 if args.quick else seconds, rate=half)
        finally:
            server.kill()
            server.wait()
    print(
        f"cdtui closed ({CONNECTIONS} vus): {ours['rate']:,.0f} req/s on {ours['cores']:.2f} "
        f"core(s), p99 {ours['p99']:.2f} ms, {per_thousand(ours):.1f} ms CPU per 1,000 requests"
    )
    if wrk is None:
        print("wrk: not installed (apt-get install wrk); no baseline, cdtui's figures only")
        print("ratio: n/a (no wrk)")
    else:
        print(
            f"wrk   closed ({CONNECTIONS} conns): {wrk['rate']:,.0f} req/s on {wrk['cores']:.2f} "
            f"core(s), p99 {wrk['p99']:.2f} ms, {per_thousand(wrk):.1f} ms CPU per 1,000 requests"
        )
        per_core = (ours["rate"] / max(ours["cores"], 0.01)) / (
            wrk["rate"] / max(wrk["cores"], 0.01)
        )
        print(
            f"ratio cdtui/wrk: rate {ours['rate'] / wrk['rate']:.2f}x, rate per core used "
            f"{per_core:.2f}x (target >= 0.5x), CPU per request "
            f"{per_thousand(ours) / per_thousand(wrk):.1f}x"
        )
    print(
        f"cdtui open model at {half:,.0f}/s: achieved {fixed['rate']:,.0f}/s "
        f"({fixed['rate'] / half:.1%}), p99 {fixed['p99']:.2f} ms from the intended send, "
        f"send lag p99 {fixed['lag_p99']:.2f} ms, {fixed['errors']} errors"
    )
    print("(wrk2 is not packaged by Debian: no fixed-rate baseline for the open model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
