"""A small HTTP/1.1 server for the load tests, in a process of its own (so the generator's CPU
is the generator's): keep-alive, and paths that answer fast, slow, with errors, chunked, or by
closing; ``--freeze-at``/``--freeze-for`` make every answer due in that window wait it out.

Run: ``python tests/load_server.py [--freeze-at S --freeze-for S]``; prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

BODY = b"body { color: #333; }\n" * 8


class Freeze:
    def __init__(self, at: float | None, length: float) -> None:
        self.at, self.length = at, length
        self.first: float | None = None

    async def wait(self) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        if self.at is None:
            return
        begin = self.first + self.at
        end = begin + self.length
        if begin <= now < end:
            await asyncio.sleep(end - now)


def answer(status: int, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, freeze: Freeze):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            await freeze.wait()
            parts = urlsplit(target)
            query = parse_qs(parts.query)
            path = parts.path
            if path == "/slow":
                await asyncio.sleep(float(query.get("ms", ["20"])[0]) / 1000)
                writer.write(answer(200, BODY))
            elif path == "/error":
                writer.write(answer(500, b"broken\n"))
            elif path == "/chunked":
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (BODY[:50], BODY[50:]))
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
                )
            elif path == "/close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
                await writer.drain()
                writer.close()
                return
            elif path == "/split":  # the head, then the body in two writes, apart
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode())
                for part in (BODY[:7], BODY[7:]):
                    await writer.drain()
                    await asyncio.sleep(0.02)
                    writer.write(part)
            elif path == "/reset":
                writer.transport.abort()
                return
            elif method == "HEAD":  # the length of the body a GET would get, and no body
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode())
            else:
                writer.write(answer(200, BODY, "Content-Type: text/css\r\n"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(freeze_at: float | None, freeze_for: float) -> None:
    freeze = Freeze(freeze_at, freeze_for)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, freeze), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


@pytest.fixture(name="load_server")
def load_server_fixture() -> Iterator[Callable[..., str]]:
    """Starts servers on demand: ``load_server(freeze_at=1, freeze_for=1)`` -> base URL.
    A test module imports ``load_server_fixture`` and asks for ``load_server``."""
    started: list[subprocess.Popen] = []

    def start(freeze_at: float | None = None, freeze_for: float = 0.0) -> str:
        argv = [sys.executable, str(Path(__file__).resolve())]
        if freeze_at is not None:
            argv += ["--freeze-at", str(freeze_at), "--freeze-for", str(freeze_for)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None
        port = int(process.stdout.readline())
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.kill()
        process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--freeze-at", type=float)
    parser.add_argument("--freeze-for", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.freeze_at, args.freeze_for))
