"""The per-stage fast paths keep every guarantee of the slow ones they skip.

- No scan of /proc after a stage that provably left nothing (``proctree.left_nothing``): a stage
  that does leave something (in its group, setsid with the marker, setsid with a cleaned
  environment, while another stage runs) still has it found and ended; a kept daemon is still
  kept. Run in a fresh Python process: the test runner's own children (servers of other tests)
  would send every stage to the scan and prove nothing about the fast path.
- A silent attempt creates no log files; readers take the missing log as an empty one.
- A stage's ``since`` comes from the clock, never later than its main process's real start.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cdtui.engine.events import Status
from cdtui.runners.local import LocalProcess
from cdtui.runners.proctree import RUNNING, start_ticks, ticks_now
from cdtui.store import RunStore
from cdtui.store.logs import index_path
from cdtui.ui.logfile import LogFile
from tests.conftest import pipeline_of

SCENARIOS = r"""
import asyncio, json, os, sys
from cdtui.runners import local

scans = []
real_scan = local.stage_processes
def counted(*args, **kwargs):
    scans.append(args[0])
    return real_scan(*args, **kwargs)
local.stage_processes = counted

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False

def process(script, keep=False):
    return local.LocalProcess(["sh", "-c", script], cwd=os.getcwd(), env=dict(os.environ),
                              on_output=lambda s, d: None, grace=1.0, keep_children=keep)

async def stage(name, script, keep=False, out=None):
    scans.clear()
    proc = process(script, keep)
    proc.start()
    result = await proc.wait(timeout=20)
    left = int(open(out).read()) if out else None
    await asyncio.sleep(0.1)
    report[name] = {"status": result.status.value, "scanned": bool(scans),
                    "ended": result.ended_leftovers, "left": left,
                    "left_alive": alive(left) if left else None}
    return left

ESCAPE = "setsid env -i sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! > esc'; sleep 0.2"
async def main():
    await stage("alone", "true")
    await stage("group child", "sleep 300 & echo $! > bg", out="bg")
    await stage("setsid, marker", "setsid sleep 300 & echo $! > ss; sleep 0.2", out="ss")
    await stage("setsid, env -i", ESCAPE, out="esc")
    other = process("sleep 30")
    other.start()
    waiting = asyncio.ensure_future(other.wait())
    await stage("alone, another running", "true")
    await stage("group child, another running", "sleep 300 & echo $! > bg2", out="bg2")
    report["other alive"] = alive(other.pid)
    other.cancel("done")
    await waiting
    kept = await stage("kept daemon", "setsid sleep 300 & echo $! > kd; sleep 0.2", True, "kd")
    await stage("after a kept daemon", "true")
    report["kept alive"] = alive(kept)
    os.kill(kept, 9)

report = {}
asyncio.run(main())
print(json.dumps(report))
"""


def test_the_scan_is_skipped_only_when_nothing_can_be_left(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", SCENARIOS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for name in ("alone", "alone, another running", "after a kept daemon"):
        assert report[name]["scanned"] is (name == "after a kept daemon"), (name, report[name])
        assert report[name]["ended"] == [], (name, report[name])
    for name in ("group child", "setsid, marker", "setsid, env -i", "group child, another running"):
        got = report[name]
        assert got["status"] == "SUCCEEDED", (name, got)
        assert got["scanned"], (name, got)  # the fast path did not claim an empty tree
        assert got["left"] in got["ended"], (name, got)  # found, ended and reported
        assert got["left_alive"] is False, (name, got)
    assert report["other alive"]  # the stage running meanwhile was never charged
    assert report["kept daemon"]["ended"] == [] and report["kept daemon"]["left_alive"]
    assert report["kept alive"]  # the next stage's look did not end what was kept


async def test_a_silent_attempt_makes_no_log_files_and_reads_as_empty(make_engine, tmp_path):
    stages = [{"name": "quiet", "run": "true"}, {"name": "loud", "run": "echo hi"}]
    pipeline = pipeline_of({"name": "P", "stages": stages})
    engine, _ = make_engine(pipeline)
    with RunStore(tmp_path) as store:
        engine.subscribe(store.record)
        assert await asyncio.wait_for(engine.run(), 10) is Status.SUCCEEDED
        quiet, loud = store.log_path(1, "P", "quiet", 1), store.log_path(1, "P", "loud", 1)
        store.flush()
        assert not quiet.exists() and not index_path(quiet).exists()
        assert loud.read_text() == "hi\n" and index_path(loud).stat().st_size > 0
        [record] = [a for a in store.attempts(1) if a.stage == "quiet"]
        assert record.status is Status.SUCCEEDED and record.log_path == quiet
    log = LogFile(quiet)
    assert log.refresh() == 0 and log.line_count == 0


async def test_since_is_never_after_the_main_process_started(tmp_path):
    for _ in range(20):
        before = ticks_now()
        pid = os.posix_spawn("/bin/true", ["true"], {})
        started = start_ticks(pid)
        os.waitpid(pid, 0)
        assert 0 < before <= started <= before + 2
    process = LocalProcess(
        ["sleep", "0.3"], cwd=str(tmp_path), env=dict(os.environ), on_output=lambda s, d: None
    )
    pid = process.start()
    assert RUNNING[pid].since <= start_ticks(pid)
    assert (await process.wait()).status is Status.SUCCEEDED


async def test_a_cancel_before_or_during_the_wait_and_a_timeout_still_end_it(tmp_path):
    def sleeper() -> LocalProcess:
        return LocalProcess(
            ["sleep", "30"], cwd=str(tmp_path), env=dict(os.environ), on_output=lambda s, d: None
        )

    early = sleeper()
    early.start()
    early.cancel("asked early")
    began = time.monotonic()
    result = await asyncio.wait_for(early.wait(), 5)
    assert (result.status, result.reason) == (Status.CANCELLED, "asked early")
    late = sleeper()
    late.start()
    waiting = asyncio.ensure_future(late.wait())
    await asyncio.sleep(0.1)
    late.cancel("asked late")
    assert (await asyncio.wait_for(waiting, 5)).status is Status.CANCELLED
    slow = sleeper()
    slow.start()
    result = await asyncio.wait_for(slow.wait(timeout=0.2), 5)
    assert (result.status, result.reason) == (Status.TIMED_OUT, "timed out after 0.2s")
    assert time.monotonic() - began < 5
    assert not RUNNING


def test_queued_rows_are_written_without_anyone_waiting_and_at_once_for_who_waits(tmp_path):
    """The writer lingers after a burst's first row; a row nobody waits for still lands (the
    linger ends by itself), and call/settle do not sit out the linger."""
    from cdtui.store import writer

    w = writer.acquire(tmp_path / "runs.db")
    try:
        w.call(lambda db: db.execute("CREATE TABLE t (x)"), "table")
        w.submit(lambda db: db.execute("INSERT INTO t VALUES (1)"), "row 1")
        reader = sqlite3.connect(tmp_path / "runs.db")
        deadline = time.monotonic() + 2.0
        while not reader.execute("SELECT count(*) FROM t").fetchone()[0]:
            assert time.monotonic() < deadline, "a row nobody waited for was never written"
            time.sleep(0.001)
        waits = []
        for i in range(20):
            w.submit(lambda db, i=i: db.execute("INSERT INTO t VALUES (?)", (i,)), f"row {i}")
            began = time.monotonic()
            w.settle()
            waits.append(time.monotonic() - began)
            began = time.monotonic()
            w.call(lambda db: db.execute("SELECT 1"), "a read")
            waits.append(time.monotonic() - began)
        assert sorted(waits)[len(waits) // 2] < writer.LINGER_S  # the typical wait: no linger
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 21
        reader.close()
    finally:
        writer.release(w)
