"""Output capture: 1,000,000 lines through the engine into the store vs a raw chunked read.

The baseline reads the same command's stdout with asyncio in 64 KiB chunks and counts
newlines, nothing else. Target: cdtui >= 50% of raw lines/s.
Usage: python bench/output_capture.py [--lines 1000000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import clock, drop_project, engine_with_store, interleaved, temp_project


def producer(lines: int) -> list[str]:
    return ["seq", str(lines)]


def cdtui_time(lines: int) -> float:
    project = temp_project()
    stage = {"name": "flood", "run": producer(lines)}
    engine, store = engine_with_store(
        {"project": "bench", "phases": [{"name": "P", "stages": [stage]}]}, project
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


async def _raw(lines: int) -> int:
    proc = await asyncio.create_subprocess_exec(*producer(lines), stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    count = 0
    while chunk := await proc.stdout.read(65536):
        count += chunk.count(b"\n")
    await proc.wait()
    return count


def raw_time(lines: int) -> float:
    began = clock()
    count = asyncio.run(_raw(lines))
    assert count == lines
    return clock() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
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


if __name__ == "__main__":
    main()
