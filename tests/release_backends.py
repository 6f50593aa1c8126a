"""Colour backends with a fault switch and a delay knob, for release tests and the benchmark."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from routing_fixtures import ColourServer, _ColourHandler


class _FaultyHandler(_ColourHandler):
    server: FaultyServer

    def do_GET(self) -> None:
        if self.path in ("/_fault/on", "/_fault/off"):  # the switch, for backends in a process
            self.server.fault = self.path.endswith("on")
            self._send(200, b"fault " + self.path.rsplit("/", 1)[1].encode())
            return
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000)
        if self.server.fault:
            self.server.hits += 1
            self._send(500, b"fault")
            return
        if self.path == "/health":
            self.server.hits += 1
            if self.server.fail_next > 0:
                self.server.fail_next -= 1
                self._send(500, b"fault")
                return
            body = self.server.health_body or f"ok {self.server.colour}".encode()
            self._send(200, body, "application/json" if body[:1] == b"{" else "text/plain")
            return
        super().do_GET()

    do_HEAD = do_GET


class FaultyServer(ColourServer):
    """A ColourServer that answers 500 to everything while ``fault`` is set (GET /_fault/on)."""

    def __init__(self, colour: str, port: int = 0) -> None:
        super().__init__(colour, port)
        self.RequestHandlerClass = _FaultyHandler
        self.fault = False
        self.delay_ms = 0.0
        self.fail_next = 0  # the next N health checks answer 500, then it heals
        self.health_body: bytes | None = None  # what a good /health answers instead of "ok COLOUR"


@contextlib.contextmanager
def faulty_server(colour: str, port: int = 0) -> Iterator[FaultyServer]:
    server = FaultyServer(colour, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def serve_faulty(colour: str, port: int) -> None:
    """Entry point for a backend in its own process (the benchmark)."""
    FaultyServer(colour, port).serve_forever()
