"""Output capture: 1,000,000 lines through the engine into the store vs a raw chunked read.

The baseline reads the same command's stdout with asyncio in 64 KiB chunks and counts
newlines, nothing else. Two figures: ``seq`` output with no secrets, and log-like text
(words, base64 and hex lines, JSON, one secret per 1,000 lines) with ``--secrets`` secrets
masked in all their encodings. Target for both: cdtui >= 50% of raw lines/s.
Usage: python bench/output_capture.py [--lines 1000000] [--runs 3] [--secrets 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import tempfile
from pathlib import Path

from _common import clock, drop_project, engine_with_store, interleaved, temp_project

BLOCK_LINES = 1000
_REPEAT = (
    "import sys; b = open(sys.argv[1], 'rb').read(); w = sys.stdout.buffer.write\n"
    "for _ in range(int(sys.argv[2])): w(b)"
)


def producer(lines: int) -> list[str]:
    return ["seq", str(lines)]


def make_secrets(count: int) -> dict[str, str]:
    """``count`` 32-character secrets, some with the quotes and slashes that encodings escape."""
    rng = random.Random(12)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+'\"$ "
    return {f"S{i}": "".join(rng.choice(alphabet) for _ in range(32)) for i in range(count)}


def log_block(secrets: dict[str, str]) -> bytes:
    """1,000 lines like a build's: words, base64 (76 columns) and hex of random bytes, JSON."""
    rng = random.Random(7)
    values = list(secrets.values())
    lines: list[str] = []
    for i in range(BLOCK_LINES):
        kind = i % 10
        if kind == 3:
            lines.append(base64.b64encode(rng.randbytes(57)).decode())
        elif kind == 6:
            lines.append(rng.randbytes(30).hex())
        elif kind == 8:
            lines.append(json.dumps({"step": i, "status": "ok", "ms": rng.random() * 100}))
        else:
            lines.append(f"2024-05-01T12:00:{i % 60:02d} INFO compiling module_{i} ({i} of 1000)")
    if values:
        lines[500] = f"token={values[0]} (a secret once per block)"
    return ("\n".join(lines) + "\n").encode()


def masked_producer(lines: int, secrets: dict[str, str]) -> list[str]:
    block = Path(tempfile.mkdtemp(prefix="cdtui-bench-block-")) / "block.log"
    block.write_bytes(log_block(secrets))
    return [sys.executable, "-c", _REPEAT, str(block), str(lines // BLOCK_LINES)]


def cdtui_time(lines: int, argv: list[str] | None = None, secrets: dict | None = None) -> float:
    project = temp_project()
    stage = {"name": "flood", "run": argv or producer(lines)}
    engine, store = engine_with_store(
        {"project": "bench", "phases": [{"name": "P", "stages": [stage]}]}, project, secrets=secrets
    )
    began = clock()
    status = asyncio.run(engine.run())
    store.flush()
    took = clock() - began
    log = store.log_path(engine.run_id, "P", "flood", 1)
    captured = log.read_bytes().count(b"\n")
    store.close()
    drop_project(project)
    assert status == "SUCCEEDED" and captured == lines, (status, captured)
    return took


async def _raw(argv: list[str]) -> int:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    count = 0
    while chunk := await proc.stdout.read(65536):
        count += chunk.count(b"\n")
    await proc.wait()
    return count


def raw_time(lines: int, argv: list[str] | None = None) -> float:
    began = clock()
    count = asyncio.run(_raw(argv or producer(lines)))
    assert count == lines
    return clock() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--secrets", type=int, default=10, help="Secrets masked (figure 2).")
    parser.add_argument("--quick", action="store_true", help="100,000 lines, one run: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.runs = 100_000, 1
    n = args.lines
    ours, base = interleaved(args.runs, lambda: cdtui_time(n), lambda: raw_time(n))
    print(
        f"captured into the store: {n / ours / 1e6:.2f}M lines/s; raw chunked read: "
        f"{n / base / 1e6:.2f}M lines/s; ratio {base / ours:.0%} of raw (target >= 50%)"
    )
    secrets = make_secrets(args.secrets)
    argv = masked_producer(n, secrets)
    ours, base = interleaved(
        args.runs, lambda: cdtui_time(n, argv, secrets), lambda: raw_time(n, argv)
    )
    print(
        f"log text masked with {len(secrets)} secrets: {n / ours / 1e6:.2f}M lines/s; raw chunked"
        f" read: {n / base / 1e6:.2f}M lines/s; ratio {base / ours:.0%} of raw (target >= 50%)"
    )


if __name__ == "__main__":
    main()
