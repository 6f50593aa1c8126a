"""Given/When/Then steps over a real shop server started on 127.0.0.1, port 0, in a thread."""

from __future__ import annotations

import json
import tempfile
import threading
import unittest
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop import db
from shop.config import Settings
from shop.server import ShopServer, make_server

REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(url: str, timeout: float = REQUEST_TIMEOUT) -> Reply:
    """A GET that returns error statuses as replies instead of raising."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, dict(exc.headers.items()), exc.read())


class ShopScenario(unittest.TestCase):
    """Base class for scenarios; each test reads as a sequence of given/when/then steps."""

    server: ShopServer
    reply: Reply

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.workdir = Path(tmp.name)

    # Given

    def given_a_running_shop(self, colour: str = "blue", **settings: Any) -> None:
        path = self.workdir / "shop.db"
        db.seed_file(path)
        self.server = make_server(
            Settings(host="127.0.0.1", port=0, db=str(path), colour=colour, **settings)
        )
        thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)

    # When

    def when_i_get(self, path: str) -> Reply:
        self.reply = http_get(self.server.url + path)
        return self.reply

    # Then

    def then_the_status_is(self, status: int) -> None:
        self.assertEqual(self.reply.status, status, self.reply.body[:200])

    def then_the_json_includes(self, **fields: Any) -> None:
        payload = self.reply.json()
        self.assertEqual({key: payload.get(key) for key in fields}, fields)

    def then_the_header_is(self, name: str, value: str) -> None:
        self.assertEqual(self.reply.headers.get(name), value)
