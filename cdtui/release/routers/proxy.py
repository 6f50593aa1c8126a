"""cdtui's embedded router: an asyncio HTTP/1.1 reverse proxy splitting traffic blue/green.

Each request picks its colour when its head arrives, so a weight change applies to the very next
request, kept-alive client connections included, while requests already in flight finish on the
colour they started on: nothing is closed or reloaded on a flip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from cdtui.release.routers.balancer import Balancer, sticky_colour
from cdtui.release.routers.base import COLOURS, Weights
from cdtui.release.routers.exchange import Exchange
from cdtui.release.routers.http1 import (
    MAX_HEAD,
    HttpError,
    ReadFailed,
    WriteFailed,
    answer,
    no_delay,
    parse_head,
    read_head,
    request_framing,
)
from cdtui.release.routers.upstream import Backend

CLIENT_IDLE = 75.0
RESPONSE_TIMEOUT = 60.0
SWEEP_EVERY = 1.0

log = logging.getLogger("cdtui.router")


def _per_colour() -> dict[str, int]:
    return dict.fromkeys(COLOURS, 0)


@dataclass
class Stats:
    """Counters for ``status``: requests started, in flight, and answered by the router itself."""

    requests: dict[str, int] = field(default_factory=_per_colour)
    inflight: dict[str, int] = field(default_factory=_per_colour)
    errors: dict[str, int] = field(default_factory=_per_colour)
    started: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    busy: bool = False
    idle_since: float = field(default_factory=time.monotonic)
    exchange: Exchange | None = None


class Proxy:
    """The listening proxy; ``set_weights`` is synchronous and applies to the next request."""

    client_idle = CLIENT_IDLE
    response_timeout = RESPONSE_TIMEOUT
    sweep_every = SWEEP_EVERY

    def __init__(self, blue_url: str, green_url: str, weights: Weights, *, sticky: bool) -> None:
        self.backends = {"blue": Backend("blue", blue_url), "green": Backend("green", green_url)}
        self.balancer = Balancer(weights)
        self.sticky = sticky
        self.stopping = False
        self.stats = Stats()
        self.address: tuple[str, int] = ("", 0)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        self._last_error_log: dict[str, float] = {}

    @property
    def weights(self) -> Weights:
        return self.balancer.weights

    def set_weights(self, weights: Weights) -> Weights:
        self.balancer.set(weights)
        return self.balancer.weights

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; OSError (address in use, ...) is left for the caller to word."""
        self._server = await asyncio.start_server(
            self._serve_client, host, port, limit=MAX_HEAD, backlog=1024
        )
        self.address = self._server.sockets[0].getsockname()[:2]
        self._sweeper = asyncio.create_task(self._sweep())
        return self.address

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; requests in flight finish (up to ``grace``); idle connections close."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while self._clients and time.monotonic() < deadline:
            for client in list(self._clients):
                if not client.busy:
                    client.writer.transport.close()
            await asyncio.sleep(0.02)
        for client in list(self._clients):
            client.writer.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for backend in self.backends.values():
            backend.close()

    def count_error(self, backend: Backend, reason: str) -> None:
        """Count a failed request; log at most once a second per colour (a dead backend floods)."""
        self.stats.errors[backend.colour] += 1
        now = time.monotonic()
        if now - self._last_error_log.get(backend.colour, 0.0) >= 1.0:
            self._last_error_log[backend.colour] = now
            total = self.stats.errors[backend.colour]
            log.warning("%s backend %s: %s (%d so far)", backend.colour, backend.url, reason, total)

    async def _sweep(self) -> None:
        """Timeouts for idle clients and slow backends, and stale pooled connections, swept once
        a second: cheaper than a timer per request."""
        while True:
            await asyncio.sleep(self.sweep_every)
            now = time.monotonic()
            for client in list(self._clients):
                exchange = client.exchange
                if not client.busy and now - client.idle_since > self.client_idle:
                    client.writer.transport.close()
                elif (
                    exchange
                    and exchange.waiting_since
                    and (now - exchange.waiting_since > self.response_timeout)
                ):
                    exchange.expire()
            for backend in self.backends.values():
                backend.sweep()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        no_delay(writer)
        client = _Client(writer)
        self._clients.add(client)
        peer = writer.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else ""
        try:
            while not self.stopping:
                try:
                    raw = await read_head(reader)
                    if raw is None:
                        break
                    client.busy = True
                    request = parse_head(raw, request=True)
                    framing, length = request_framing(request)
                except HttpError as exc:
                    await answer(writer, exc.status, str(exc), close=True)
                    break
                if self.sticky:
                    colour, set_cookie = self.balancer.choose(sticky_colour(request))
                else:
                    colour, set_cookie = self.balancer.pick(), False
                exchange = Exchange(
                    self,
                    request,
                    framing,
                    length,
                    reader,
                    writer,
                    client_ip,
                    self.backends[colour],
                    set_cookie,
                )
                client.exchange = exchange
                self.stats.requests[colour] += 1
                self.stats.inflight[colour] += 1
                try:
                    keep = await exchange.run()
                finally:
                    self.stats.inflight[colour] -= 1
                    client.exchange = None
                if not keep:
                    break
                client.busy = False
                client.idle_since = time.monotonic()
        except (ReadFailed, WriteFailed, HttpError, ConnectionError):
            pass
        finally:
            self._clients.discard(client)
            writer.transport.close()
