"""The HTTP front of the shop: the standard library's threading server, tuned for load tests."""

from __future__ import annotations

import signal
import sys
import traceback
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from shop import __version__, db
from shop.app import Response, ShopApp, json_response, load_static
from shop.config import Settings
from shop.faults import FaultSwitch

WRITE_BUFFER = 64 * 1024
"""A response head and body up to about this size go out in one send."""
MAX_DISCARDED_BODY = 64 * 1024


class ShopServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a real listen backlog.

    The default ``request_queue_size`` of 5 makes latency spike to seconds under 10-20
    concurrent connections, which a load stage or a traffic flip would misread as a bad release.
    """

    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ShopApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        super().__init__(address, ShopHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ShopHandler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and ShopApp; HTTP/1.1 so clients may keep connections.

    On a kept-alive connection, a head and a body sent as two small writes with Nagle on wait for
    the client's delayed ACK before the body leaves: ~40 ms a request, through a router or not.
    So Nagle is off, and the head and body are buffered and sent in one write where they fit.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket (StreamRequestHandler)
    wbufsize = WRITE_BUFFER  # buffered: head and body leave together when _send flushes
    server_version = f"shop/{__version__}"
    timeout = 30  # an idle keep-alive connection frees its thread after this many seconds
    server: ShopServer

    def do_GET(self) -> None:
        self._answer("GET")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_POST(self) -> None:
        self._discard_body()
        self._answer("POST")

    def _discard_body(self) -> None:
        """No endpoint reads a body, but unread bytes would be parsed as the next request on a
        kept-alive connection; a large one ends the connection instead of being read."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 < length <= MAX_DISCARDED_BODY:
            self.rfile.read(length)
        elif length != 0:
            self.close_connection = True

    def _answer(self, method: str) -> None:
        try:
            response = self.server.app.handle(method, self.path)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": "internal error"})
        self._send(response, include_body=method != "HEAD")

    def _send(self, response: Response, include_body: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if include_body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet by default: a smoke run of hundreds of requests should not flood the stage log."""
        if self.server.access_log:
            super().log_message(format, *args)


def make_server(settings: Settings) -> ShopServer:
    """Check the database, load static files and bind; port 0 picks a free port."""
    db.connect_readonly(settings.db).close()
    app = ShopApp(
        colour=settings.colour,
        connect=partial(db.connect_readonly, settings.db),
        static=load_static(),
        faults=FaultSwitch(settings.fail_rate, settings.fault_file),
    )
    return ShopServer((settings.host, settings.port), app, access_log=settings.access_log)


def serve(settings: Settings) -> int:
    """Run until SIGTERM or Ctrl-C, then close the socket cleanly."""
    server = make_server(settings)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(
        f"shop {__version__} ({settings.colour}) serving {server.url} db={settings.db}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"shop {__version__} ({settings.colour}) stopped", file=sys.stderr, flush=True)
    return 0
