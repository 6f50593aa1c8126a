"""What notifications cost a run, and how fast they arrive.

1. A run of 200 stages through the front door with every sink on as the issue's sketch has them
   (the event log, logstash hearing every event, a webhook, Slack, and SNS, SES and SQS against
   a moto server, each on its default filter) vs the same run with no notifier (target <= 1.1x).
   ``--quick`` leaves out the AWS sinks (the moto server takes seconds to start).
2. A stress figure beside it: a webhook POST for every event (``on: [all]``), no target.
3. Event -> logstash listener latency p50/p99 while healthy (target p99 <= 100 ms).
4. Outbox drain rate after an outage: 10,000 events queued for a stopped logstash, then it
   comes back (events/s).
Usage: python bench/notify_overhead.py [--stages 200] [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

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
class Discard(asyncio.Protocol):
    def data_received(self, data):
        pass
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Hook, "127.0.0.1", 0)
    tcp = await loop.create_server(Discard, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], tcp.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

HOOK_SERVER = """
import socket, threading
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
tcp = socket.create_server(("127.0.0.1", 0))
def discard():
    while True:
        peer, _ = tcp.accept()
        threading.Thread(target=lambda: [None for _ in iter(lambda: peer.recv(65536), b"")]).start()
threading.Thread(target=discard, daemon=True).start()
print(server.server_address[1], tcp.getsockname()[1], flush=True)
server.serve_forever()
"""


REGION = "eu-west-1"
CPU: dict[str, list[float]] = {}  # label -> the cdtui process's CPU seconds of each run
DELIVERED: list[int] = []
CONNECTS: list[int] = []


def run_time(stages: int, sinks: list[dict] | None, label: str = "") -> float:
    """A run of ``stages`` trivial stages with ``sinks`` (None: no notifier at all); its own
    CPU seconds (not its children's) go to ``CPU[label]``: on a busy machine wall time is noisy,
    and the notifier's cost is CPU of this process."""
    project = temp_project()
    notify = sinks or []
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
        if sinks is None:
            session.start_notifier = lambda secrets: None  # type: ignore[method-assign]
        began, cpu = clock(), time.process_time()
        session.start(session.plan(), options=EngineOptions(jobs=1))
        status = await session.task
        took = clock() - began
        CPU.setdefault(label, []).append(time.process_time() - cpu)
        await session.bus.close()
        if session.notifier is not None:
            await session.notifier.settle(10.0)
            workers = session.notifier.workers
            DELIVERED.append(sum(w.delivered for w in workers))
            CONNECTS.append(
                sum(getattr(getattr(w.sink, "client", None), "connects", 0) or 0 for w in workers)
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


def moto_server() -> tuple[subprocess.Popen, dict[str, Any]]:
    """A moto server in a process of its own, with a topic, a queue and a verified sender; the
    AWS sinks pointed at it."""
    import socket

    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client = functools.partial(boto3.client, region_name=REGION, endpoint_url=url)
    topic = client("sns").create_topic(Name="bench-deploys")["TopicArn"]
    queue = client("sqs").create_queue(QueueName="bench-deploys")["QueueUrl"]
    client("ses").verify_email_identity(EmailAddress="ci@example.com")
    where = {"region": REGION, "endpoint_url": url}
    return server, {
        "sns": {"topic_arn": topic, **where},
        "ses": {"from": "ci@example.com", "to": ["ops@example.com"], **where},
        "sqs": {"queue_url": queue, **where},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stdlib-receiver", action="store_true", help="http.server as receiver")
    args = parser.parse_args()
    stages, runs, samples, outage = args.stages, args.runs, 300, 10_000
    if args.quick:
        stages, runs, samples, outage = 40, 1, 50, 1000
    # The receivers are other processes, as they are in life (not this one's GIL).
    receiver = HOOK_SERVER if args.stdlib_receiver else LEAN_SERVER
    server = subprocess.Popen([sys.executable, "-c", receiver], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    http_port, tcp_port = server.stdout.readline().split()
    hook = f"http://127.0.0.1:{http_port}/hook"
    os.environ["BENCH_SLACK_URL"] = hook
    every_sink = [
        {"logstash": {"host": "127.0.0.1", "port": int(tcp_port)}, "on": ["all"]},
        {"webhook": {"url": hook}},
        {"slack": {"webhook_env": "BENCH_SLACK_URL"}},
    ]
    moto = None
    if not args.quick:
        moto, aws = moto_server()
        every_sink += [{kind: config} for kind, config in aws.items()]
    try:
        ours, base = interleaved(
            runs,
            lambda: run_time(stages, every_sink, "every"),
            lambda: run_time(stages, None, "none"),
        )
        stress, base2 = interleaved(
            runs,
            lambda: run_time(stages, [{"webhook": {"url": hook}, "on": ["all"]}]),
            lambda: run_time(stages, None),
        )
        posts = DELIVERED[-1] if DELIVERED else 0
    finally:
        server.kill()
        if moto is not None:
            moto.kill()
    names = ", ".join(next(iter(s)) for s in every_sink)
    print(f"{stages} stages with every sink ({names}; the log too): {ours:.2f}s, none {base:.2f}s")
    print(f"notify overhead ratio: {ours / base:.3f}x (target <= 1.1x)")
    cpu_every, cpu_none = (statistics.median(CPU[k]) for k in ("every", "none"))
    extra = (cpu_every - cpu_none) / stages * 1000
    print(
        f"  the cdtui process's own CPU: {cpu_every * 1000:.0f} ms vs {cpu_none * 1000:.0f} ms "
        f"({extra:.3f} ms a stage); that CPU added to the bare run's wall time: "
        f"{(base + cpu_every - cpu_none) / base:.3f}x (steadier on a busy machine)"
    )
    which = "http.server" if args.stdlib_receiver else "lean asyncio"
    print(
        f"stress, a webhook POST for every event ({posts} posts, {which} receiver): "
        f"{stress:.2f}s vs {base2:.2f}s, ratio {stress / base2:.3f}x (no target)"
    )
    p50, p99, rate = asyncio.run(logstash_figures(samples, outage))
    print(f"event -> logstash latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= 100 ms)")
    print(f"outbox drain after an outage of {outage} events: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
