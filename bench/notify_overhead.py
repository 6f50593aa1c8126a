"""What notifications cost a run, and how fast they arrive.

1. A run of 200 stages through the front door with sinks on (the event log + a webhook hearing
   every event, to a local HTTP listener) vs the same run with no notifier (target <= 1.1x).
2. Event -> logstash listener latency p50/p99 while healthy (target p99 <= 100 ms).
3. Outbox drain rate after an outage: 10,000 events queued for a stopped logstash, then it
   comes back (events/s).
Usage: python bench/notify_overhead.py [--stages 200] [--runs 3] [--quick]
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

from _common import clock, drop_project, interleaved, temp_project

from cdtui.config.models import Pipeline
from cdtui.engine.bus import EventBus
from cdtui.engine.engine import EngineOptions
from cdtui.engine.events import Notice
from cdtui.notify.notifier import Notifier
from cdtui.session import Session

# The webhook's receiver stands for one on another machine, so its own CPU should not weigh on
# this one's 2 cores: a lean asyncio responder (HTTP/1.1, keep-alive) by default;
# ``--stdlib-receiver`` uses http.server instead (~0.15 ms of CPU an answer, which the run's
# figure then pays too on a small machine).
LEAN_SERVER = """
import asyncio
class Hook(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.data = transport, b""
    def data_received(self, data):
        self.data += data
        while True:
            head, sep, rest = self.data.partition(b"\\r\\n\\r\\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\\r\\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.data = rest[length:]
            self.transport.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
async def main():
    server = await asyncio.get_running_loop().create_server(Hook, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

HOOK_SERVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Slack and most receivers answer
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


DELIVERED: list[int] = []
CONNECTS: list[int] = []


def run_time(stages: int, hook: str | None, every_event: bool = True) -> float:
    """A run of ``stages`` trivial stages; with ``hook``, the log and a webhook hearing every
    event, or (``every_event=False``) a webhook and Slack with their default ``on:`` filter."""
    project = temp_project()
    notify: list[dict] = []
    if hook and every_event:
        notify = [{"webhook": {"url": hook}, "on": ["all"]}]
    elif hook:
        os.environ["BENCH_SLACK_URL"] = hook
        notify = [{"webhook": {"url": hook}}, {"slack": {"webhook_env": "BENCH_SLACK_URL"}}]
    data = {
        "project": "bench",
        "notify": notify,
        "phases": [
            {"name": "P", "stages": [{"name": f"s{i}", "run": ["true"]} for i in range(stages)]}
        ],
    }
    (project / "cdtui.yaml").write_text(json.dumps(data))

    async def go() -> float:
        session = Session(project)
        assert session.load() == []
        if hook is None:
            session.start_notifier = lambda secrets: None  # type: ignore[method-assign]
        began = clock()
        session.start(session.plan(), options=EngineOptions(jobs=1))
        status = await session.task
        took = clock() - began
        await session.bus.close()
        if session.notifier is not None:
            await session.notifier.settle(10.0)
            DELIVERED.append(sum(w.delivered for w in session.notifier.workers))
            CONNECTS.append(
                sum(
                    (getattr(w.sink, "client", None) and w.sink.client.connects) or 0
                    for w in session.notifier.workers
                )
            )
            await session.notifier.aclose()
        session.close()
        assert status == "SUCCEEDED", status
        return took

    took = asyncio.run(go())
    drop_project(project)
    return took


class _Listener(asyncio.Protocol):
    arrivals: list[tuple[float, dict]] = []
    partial = b""
    transports: list[asyncio.BaseTransport] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _Listener.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        data = _Listener.partial + data
        *whole, _Listener.partial = data.split(b"\n")
        _Listener.arrivals += [(now, json.loads(line)) for line in whole if line]


def _pipeline(port: int) -> Pipeline:
    return Pipeline.model_validate(
        {
            "project": "bench",
            "notify": [{"logstash": {"host": "127.0.0.1", "port": port}, "on": ["all"]}],
            "phases": [{"name": "P", "stages": [{"name": "a", "run": "true"}]}],
        }
    )


async def logstash_figures(samples: int, outage: int) -> tuple[float, float, float]:
    project = temp_project()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Listener, "127.0.0.1", 0, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    bus = EventBus()
    notifier = Notifier(_pipeline(port), project, {})
    notifier.attach(bus)
    for i in range(samples):
        bus.emit(Notice(1, time.time(), "info", f"sample {i}"))
        await asyncio.sleep(0.005)
    while len(_Listener.arrivals) < samples:
        await asyncio.sleep(0.01)
    latencies = sorted((arrived - p["at"]) * 1000 for arrived, p in _Listener.arrivals)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    server.close()
    for transport in _Listener.transports:
        transport.close()
    await server.wait_closed()
    _Listener.arrivals = []
    await asyncio.sleep(0.1)
    for i in range(outage):  # logstash is down: all of these wait in the outbox
        bus.emit(Notice(1, time.time(), "info", f"queued {i}"))
    await asyncio.sleep(0.2)
    server = await loop.create_server(_Listener, "127.0.0.1", port, reuse_address=True)
    back = clock()
    (worker,) = notifier.workers
    worker.wake.set()
    while len([a for a in _Listener.arrivals if "queued" in a[1].get("text", "")]) < outage:
        await asyncio.sleep(0.01)
    rate = outage / (clock() - back)
    await notifier.aclose()
    server.close()
    drop_project(project)
    return p50, p99, rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stdlib-receiver", action="store_true", help="http.server as receiver")
    args = parser.parse_args()
    stages, runs, samples, outage = args.stages, args.runs, 300, 10_000
    if args.quick:
        stages, runs, samples, outage = 40, 1, 50, 1000
    # The webhook's receiver is another process, as it is in life (not this one's GIL).
    receiver = HOOK_SERVER if args.stdlib_receiver else LEAN_SERVER
    server = subprocess.Popen([sys.executable, "-c", receiver], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    hook = f"http://127.0.0.1:{server.stdout.readline().strip()}/hook"
    try:
        ours, base = interleaved(
            runs, lambda: run_time(stages, hook), lambda: run_time(stages, None)
        )
        quiet, base2 = interleaved(
            runs, lambda: run_time(stages, hook, every_event=False), lambda: run_time(stages, None)
        )
    finally:
        server.kill()
    posts = DELIVERED[-1] if DELIVERED else 0
    connects = CONNECTS[-1] if CONNECTS else 0
    print(
        f"{stages} stages: with sinks {ours:.2f}s ({posts} webhook posts on {connects} "
        f"connection(s)), without {base:.2f}s"
    )
    which = "http.server" if args.stdlib_receiver else "lean asyncio"
    print(f"notify overhead ratio: {ours / base:.3f}x (target <= 1.1x; {which} receiver)")
    print(
        f"default filters (webhook + Slack, a few messages a run): {quiet:.2f}s vs {base2:.2f}s, "
        f"ratio {quiet / base2:.3f}x (target <= 1.1x)"
    )
    p50, p99, rate = asyncio.run(logstash_figures(samples, outage))
    print(f"event -> logstash latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= 100 ms)")
    print(f"outbox drain after an outage of {outage} events: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
