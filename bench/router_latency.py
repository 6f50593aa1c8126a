"""Latency through cdtui's embedded router on kept-alive connections vs straight to the backend.

The backend is the sample shop (``python -m shop serve``, the code its .pyz runs), the router is
``cdtui router serve`` in its own process, both on loopback. One client, one kept-alive connection
per round, requests one after another; rounds alternate direct and routed so machine noise hits
both alike. Prints p50/p99 of each, what the router adds (target: <= +2 ms at p99) and the ratio.
A p50 near 40 ms on both sides is Nagle meeting delayed ACKs in the backend, not the router: the
shop used to send head and body as two writes, and reused connections waited ~44 ms each.
Usage: python bench/router_latency.py [--requests 2000] [--rounds 4] [--path /static/style.css]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_project"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from routing_fixtures import free_port, port_open, release_block, wait_for  # noqa: E402

ROUTER_CLI = [sys.executable, "-m", "cdtui.commands.router"]
TARGET_ADDED_P99_MS = 2.0
STALL_MS = 30.0  # a p50 this high on loopback is a delayed-ACK stall, not work


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def keep_alive_round(port: int, path: str, requests: int) -> list[float]:
    """Milliseconds per GET on one connection, after one untimed GET that opens it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    took: list[float] = []
    try:
        for index in range(requests + 1):
            began = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200 or response.will_close:
                raise SystemExit(f"GET {path} on :{port}: HTTP {response.status}, not kept alive")
            if index:
                took.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return took


def start_shop(work: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SAMPLE)}
    shop = [sys.executable, "-m", "shop"]
    db = str(work / "shop.db")
    subprocess.run([*shop, "seed", "--db", db], env=env, check=True, capture_output=True)
    log = (work / "shop.log").open("wb")
    serve = [*shop, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db]
    proc = subprocess.Popen(serve, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    wait_for(lambda: port_open(port), 10, "the shop to listen")
    return proc


def start_router(work: Path, backend: str, port: int) -> None:
    green = f"http://127.0.0.1:{free_port()}"  # all traffic stays on blue: nobody listens here
    release = release_block(backend, green, port)
    (work / "cdtui.yaml").write_text(
        json.dumps({"project": "bench", "phases": [{"name": "Release", "release": release}]})
    )
    env = {**os.environ, "CDTUI_STATE_DIR": str(work / ".cdtui")}
    done = subprocess.run(
        [*ROUTER_CLI, "serve", "--detach", str(work)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"cdtui router serve failed: {done.stdout}{done.stderr}")


def report(direct: list[float], routed: list[float]) -> None:
    d50, d99, r50, r99 = pct(direct, 0.5), pct(direct, 0.99), pct(routed, 0.5), pct(routed, 0.99)
    print(f"direct:  p50 {d50:.2f} ms  p99 {d99:.2f} ms  ({len(direct)} requests)")
    print(f"router:  p50 {r50:.2f} ms  p99 {r99:.2f} ms  ({len(routed)} requests)")
    added = r99 - d99
    verdict = "within" if added <= TARGET_ADDED_P99_MS else "OVER"
    print(
        f"router adds {r50 - d50:+.2f} ms at p50, {added:+.2f} ms at p99 "
        f"({verdict} the +{TARGET_ADDED_P99_MS:g} ms target); "
        f"router/direct ratio p50 {r50 / d50:.2f}x, p99 {r99 / d99:.2f}x"
    )
    if min(d50, r50) >= STALL_MS:
        print(f"STALL: p50 >= {STALL_MS:g} ms both ways: the backend's writes wait on delayed ACKs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="Per round and target.")
    parser.add_argument("--rounds", type=int, default=4, help="Alternating direct/router rounds.")
    parser.add_argument("--path", default="/static/style.css", help="What to GET from the shop.")
    parser.add_argument("--quick", action="store_true", help="A few seconds: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 100, 2
    work = Path(tempfile.mkdtemp(prefix="cdtui-bench-latency-"))
    backend_port, router_port = free_port(), free_port()
    shop = start_shop(work, backend_port)
    env = {**os.environ, "CDTUI_STATE_DIR": str(work / ".cdtui")}
    try:
        start_router(work, f"http://127.0.0.1:{backend_port}", router_port)
        print(
            f"sample shop GET {args.path}: {args.rounds} rounds x {args.requests} requests, "
            "one kept-alive connection per round, direct and through the embedded router"
        )
        direct: list[float] = []
        routed: list[float] = []
        for _ in range(args.rounds):
            direct += keep_alive_round(backend_port, args.path, args.requests)
            routed += keep_alive_round(router_port, args.path, args.requests)
        report(direct, routed)
    finally:
        subprocess.run([*ROUTER_CLI, "stop", str(work)], env=env, capture_output=True, check=False)
        shop.terminate()
        shop.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
