"""The embedded router as a service: the proxy, its admin socket and its remembered weights.

Control is a local UNIX socket speaking JSON lines (``{"op": "set_weights", "weights": {...}}``),
in the spirit of HAProxy's runtime API: no reload, no restart, nothing closed on a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from cdtui.config.durations import format_duration
from cdtui.config.release import ReleaseSpec
from cdtui.release.routers.base import RouterError, Weights
from cdtui.release.routers.files import RouterPaths, unix_address
from cdtui.release.routers.proxy import Proxy

MAX_ADMIN_LINE = 64 * 1024
STOP_GRACE = 10.0

log = logging.getLogger("cdtui.router")


class RouterService:
    """One embedded router: listens, takes admin commands, persists weights before applying."""

    def __init__(self, spec: ReleaseSpec, paths: RouterPaths) -> None:
        self.spec = spec
        self.paths = paths
        self.note = ""
        self.proxy = Proxy(
            spec.blue.url, spec.green.url, self._initial_weights(), sticky=spec.router.sticky
        )
        self._admin: asyncio.Server | None = None
        self._stop = asyncio.Event()

    def _initial_weights(self) -> Weights:
        """What the router last had (state file); all blue, the known-good colour, otherwise."""
        try:
            weights = self.paths.read_state()
        except ValueError as exc:
            self.note = f"state file unreadable, started all blue: {exc}"
            log.warning("%s", self.note)
            return Weights.ALL_BLUE
        return weights or Weights.ALL_BLUE

    async def start(self) -> None:
        """Listen for traffic and for admin commands; RouterError with the fix when it cannot."""
        host, port = self.spec.router.listen_address
        try:
            await self.proxy.start(host, port)
        except OSError as exc:
            raise RouterError(
                f"cannot listen on {self.spec.router.listen}: {exc.strerror or exc}: "
                "stop what uses it or change router.listen in the release block"
            ) from None
        self.paths.ensure()
        with unix_address(self.paths.socket) as address:
            self._admin = await asyncio.start_unix_server(
                self._admin_client, path=address, limit=MAX_ADMIN_LINE
            )
        os.chmod(self.paths.socket, 0o600)
        self.paths.write_pid()
        log.info(
            "listening on %s (pid %d), %s, blue %s, green %s",
            self.listen,
            os.getpid(),
            self.proxy.weights,
            self.spec.blue.url,
            self.spec.green.url,
        )

    @property
    def listen(self) -> str:
        host, port = self.proxy.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def close(self, grace: float = STOP_GRACE) -> None:
        """Requests in flight finish (up to ``grace``); then the socket and pid file go."""
        if self._admin is not None:
            self._admin.close()
        await self.proxy.stop(grace)
        self.paths.remove_own()
        log.info("stopped with %s", self.proxy.weights)

    def set_weights(self, weights: Weights) -> Weights:
        previous = self.proxy.weights
        self.paths.write_state(weights)  # first: what is acknowledged must survive a restart
        in_force = self.proxy.set_weights(weights)
        log.info("weights %s -> %s", previous, in_force)
        return in_force

    def describe(self) -> dict[str, str]:
        stats = self.proxy.stats
        in_flight = stats.inflight
        return {
            "kind": "embedded",
            "listen": self.listen,
            "pid": str(os.getpid()),
            "weights": str(self.proxy.weights),
            "blue": self.spec.blue.url,
            "green": self.spec.green.url,
            "sticky": "yes" if self.proxy.sticky else "no",
            "requests": f"blue {stats.requests['blue']}, green {stats.requests['green']}",
            "in flight": f"blue {in_flight['blue']}, green {in_flight['green']}",
            "router errors": f"blue {stats.errors['blue']}, green {stats.errors['green']}",
            "client connections": str(self.proxy.clients),
            "uptime": format_duration(time.monotonic() - stats.started),
            "state file": str(self.paths.state),
            "log": str(self.paths.log),
            **({"note": self.note} if self.note else {}),
        }

    def handle(self, message: Any) -> dict[str, Any]:
        """One admin command to one reply; never raises."""
        op = message.get("op") if isinstance(message, dict) else None
        try:
            if op == "get_weights":
                return {"ok": True, "weights": self.proxy.weights.as_dict()}
            if op == "set_weights":
                raw = message.get("weights")
                if not isinstance(raw, dict):
                    return {"ok": False, "error": 'expected "weights": {"blue": N, "green": M}'}
                asked = Weights(raw.get("blue"), raw.get("green"))
                return {"ok": True, "weights": self.set_weights(asked).as_dict()}
            if op == "describe":
                return {"ok": True, "describe": self.describe()}
            if op == "stop":
                self.request_stop()
                return {"ok": True}
        except RouterError as exc:
            return {"ok": False, "error": str(exc)}
        except OSError as exc:
            return {"ok": False, "error": f"cannot save {self.paths.state}: {exc}"}
        return {"ok": False, "error": f"unknown op {op!r}: get_weights|set_weights|describe|stop"}

    async def _admin_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = self.handle(json.loads(line))
                except ValueError:
                    reply = {"ok": False, "error": "expected one JSON object per line"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(
    spec: ReleaseSpec, paths: RouterPaths, on_ready: Callable[[RouterService], None] | None = None
) -> None:
    """Run until SIGTERM, SIGINT or an admin ``stop``; then drain and clean up."""
    service = RouterService(spec, paths)
    await service.start()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for signum in signals:
            loop.add_signal_handler(signum, service.request_stop)
    try:
        if on_ready is not None:
            on_ready(service)
        await service.wait()
    finally:
        if in_main:
            for signum in signals:
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)
        await service.close()
