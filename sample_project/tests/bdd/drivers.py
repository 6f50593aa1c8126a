"""The shop under test at three fidelities, lowest first, all driven the same way (get, post).

- ``in-process``: ``ShopApp.handle`` called directly: routing and payloads, no socket.
- ``http``: the real HTTP server in a thread on 127.0.0.1, port 0: sockets, headers, threads.
- ``pyz``: the packaged ``.pyz`` as its own process on a port: what the pipeline ships.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from shop import db
from shop.app import ShopApp, load_static
from shop.config import Settings
from shop.faults import FaultSwitch
from shop.server import make_server

FIDELITIES = ("in-process", "http", "pyz")
REQUEST_TIMEOUT = 5.0
START_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ShopOptions:
    """How a scenario's shop is started: its colour and its fault switches."""

    colour: str = "blue"
    fail_rate: float = 0.0
    fault_file: str | None = None


@dataclass
class RunningShop:
    """One started shop; ``stop`` ends whatever it started."""

    fidelity: str
    url: str = ""
    app: ShopApp | None = None
    _stops: list[Any] = field(default_factory=list)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str) -> Reply:
        return self.request("POST", path)

    def request(self, method: str, path: str) -> Reply:
        if self.app is not None:
            response = self.app.handle(method, path)
            headers = {"Content-Type": response.content_type, **response.headers}
            return Reply(response.status, headers, response.body)
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
                return Reply(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, dict(error.headers.items()), error.read())

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()


def start(fidelity: str, workdir: Path, options: ShopOptions, pyz: Path | None) -> RunningShop:
    """A seeded shop at ``fidelity`` (``pyz`` needs the built artifact)."""
    path = workdir / "shop.db"
    db.seed_file(path)
    shop = RunningShop(fidelity)
    if fidelity == "in-process":
        faults = FaultSwitch(options.fail_rate, options.fault_file)
        connect = partial(db.connect_readonly, path)
        shop.app = ShopApp(options.colour, connect, load_static(), faults)
    elif fidelity == "http":
        settings = Settings(
            host="127.0.0.1",
            port=0,
            db=str(path),
            colour=options.colour,
            fail_rate=options.fail_rate,
            fault_file=options.fault_file,
        )
        server = make_server(settings)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        shop.url = server.url
        shop._stops += [partial(thread.join, 5), server.server_close, server.shutdown]
    elif fidelity == "pyz":
        assert pyz is not None
        shop.url = _serve_pyz(shop, pyz, path, options)
    else:
        raise ValueError(f"no fidelity {fidelity!r} (known: {', '.join(FIDELITIES)})")
    return shop


def _serve_pyz(shop: RunningShop, pyz: Path, path: Path, options: ShopOptions) -> str:
    command = [sys.executable, str(pyz), "serve", "--port", "0", "--db", str(path)]
    command += ["--colour", options.colour]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}  # no stray faults
    env["SHOP_FAIL_RATE"] = str(options.fail_rate)
    if options.fault_file:
        env["SHOP_FAULT_FILE"] = options.fault_file
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    shop._stops += [process.stderr.close, partial(process.wait, START_TIMEOUT), process.terminate]
    ready, _, _ = select.select([process.stderr], [], [], START_TIMEOUT)
    if not ready:
        raise AssertionError(f"the packaged shop printed nothing in {START_TIMEOUT:g}s")
    first_line = process.stderr.readline()  # "shop X (colour) serving http://host:port db=..."
    match = re.search(r"serving (http://\S+)", first_line)
    if match is None:
        raise AssertionError(f"unexpected first line from the packaged shop: {first_line!r}")
    return match.group(1)
