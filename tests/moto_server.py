"""A moto server on loopback for the AWS tests: one per session, its state reset after each test.

``moto`` gives a test fake credentials through the environment (and no real profile, config
file or AWS_ENDPOINT_URL that could reach a real account), the server's URL, boto3 clients for
setting up topics and queues, and moto's own view of what was sent (``/moto-api/data.json``).
moto's state is global to the process: tests name their resources uniquely anyway.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.routing_fixtures import require

REGION = "eu-west-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def start_moto() -> Any:
    """A started ThreadedMotoServer on a free port; missing moto skips, or fails under CI=true."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require(False, "moto[server] (pip install -e '.[test]')")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def url_of(server: Any) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


@dataclass
class Moto:
    url: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.url)

    def data(self) -> dict[str, Any]:
        """moto's models as JSON, per service (SES keeps sent mail here)."""
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=10) as reply:
            return json.load(reply)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = start_moto()
    try:
        yield url_of(server)
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake credentials in the environment, no real profile; returns the (empty) config dir."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s probe for an instance role
    home = tmp_path / "aws"
    home.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    return home


@pytest.fixture
def moto(moto_url: str, aws_env: Path) -> Iterator[Moto]:
    server = Moto(moto_url)
    try:
        yield server
    finally:
        server.reset()
