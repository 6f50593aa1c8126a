"""The run store: append-only history, logs with an index, and no run ever left RUNNING."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdtui.engine.events import (
    GateApproved,
    GateWaiting,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StageFinished,
    StageOutput,
    StageStarted,
    Status,
)
from cdtui.store import RunStore, liveness
from cdtui.store.db import RunDB
from cdtui.store.logs import STDERR, STDOUT, index_path, read_index, slug

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path):
    with RunStore(tmp_path) as s:
        yield s


def feed_full_run(store: RunStore) -> int:
    """A run with a retried stage, a gate and a skipped stage, as the engine would emit it."""
    rid = store.begin_run("shop", "alice", "all")
    events = [
        RunStarted(rid, T0, "shop", ("Commit", "Release"), "alice"),
        PhaseStarted(rid, T0 + 1, "Commit"),
        StageStarted(rid, T0 + 1, "Commit", "unit", 1, "pytest -q"),
        StageOutput(rid, T0 + 2, "Commit", "unit", 1, "stdout", "collecting\n"),
        StageOutput(rid, T0 + 3, "Commit", "unit", 1, "stderr", "boom\n"),
        StageFinished(
            rid, T0 + 4, "Commit", "unit", 1, Status.FAILED, 1, "exit 1", will_retry=True
        ),
        StageStarted(rid, T0 + 5, "Commit", "unit", 2, "pytest -q"),
        StageOutput(rid, T0 + 6, "Commit", "unit", 2, "stdout", "ok"),
        StageOutput(rid, T0 + 6.5, "Commit", "unit", 2, "stdout", " all\n"),
        StageFinished(rid, T0 + 7, "Commit", "unit", 2, Status.SUCCEEDED, 0),
        StageFinished(rid, T0 + 7, "Commit", "docs", 0, Status.SKIPPED, reason="when: manual"),
        PhaseFinished(rid, T0 + 8, "Commit", Status.SUCCEEDED),
        GateWaiting(rid, T0 + 9, "Release", ("deploy",)),
        GateApproved(rid, T0 + 10, "Release", "bob"),
        PhaseStarted(rid, T0 + 10, "Release"),  # repeats RUNNING: not a state change
        StageStarted(rid, T0 + 11, "Release", "deploy", 1, "./deploy.sh", host="staging-1"),
        StageOutput(rid, T0 + 12, "Release", "deploy", 1, "stdout", "deployed\n", "staging-1"),
        StageFinished(rid, T0 + 13, "Release", "deploy", 1, Status.SUCCEEDED, 0, host="staging-1"),
        PhaseFinished(rid, T0 + 14, "Release", Status.SUCCEEDED),
        Notice(rid, T0 + 14, "warning", "router weights differ", "Release"),
        RunFinished(rid, T0 + 15, Status.SUCCEEDED),
    ]
    for event in events:
        store.record(event)
    store.flush()  # the queued rows are in runs.db before the test reads it directly
    return rid


def rows(tmp_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / ".cdtui" / "runs.db") as conn:
        return conn.execute(sql).fetchall()


def test_begin_run_ids_are_sequential_and_record_the_driver(store: RunStore, tmp_path: Path):
    assert store.latest_run_id() is None
    assert [store.begin_run("p", "u", "all") for _ in range(3)] == [1, 2, 3]
    run = store.run(2)
    assert run is not None
    assert (run.status, run.pid, run.hostname) == (
        Status.PENDING,
        os.getpid(),
        socket.gethostname(),
    )
    ticks = rows(tmp_path, "SELECT proc_start FROM runs WHERE id = 2")[0][0]
    assert ticks == liveness.current().start_ticks
    assert store.latest_run_id() == 3
    assert store.run(99) is None


def test_a_full_run_is_summarised_from_its_rows(store: RunStore, tmp_path: Path):
    rid = feed_full_run(store)
    run = store.run(rid)
    assert run is not None
    assert (run.status, run.user, run.selection, run.project) == (
        Status.SUCCEEDED,
        "alice",
        "all",
        "shop",
    )
    assert run.finished == T0 + 15 and run.duration == pytest.approx(run.finished - run.started)
    assert run.counts == {"SUCCEEDED": 2, "SKIPPED": 1}
    assert store.approvals(rid) == [("Release", "bob", T0 + 10)]
    assert store.notices(rid) == [("warning", "router weights differ", "Release", "", T0 + 14)]
    run_states = [s for (s,) in rows(tmp_path, "SELECT status FROM run_states ORDER BY seq")]
    assert run_states == ["PENDING", "RUNNING", "WAITING", "RUNNING", "SUCCEEDED"]
    phase_rows = rows(tmp_path, "SELECT phase, status FROM phase_states ORDER BY seq")
    assert phase_rows == [
        ("Commit", "RUNNING"),
        ("Commit", "SUCCEEDED"),
        ("Release", "WAITING"),
        ("Release", "RUNNING"),
        ("Release", "SUCCEEDED"),
    ]


def test_attempts_fold_their_rows_in_start_order(store: RunStore):
    rid = feed_full_run(store)
    got = [
        (a.phase, a.stage, a.attempt, a.status, a.exit_code, a.started, a.finished, a.host)
        for a in store.attempts(rid)
    ]
    assert got == [
        ("Commit", "unit", 1, Status.FAILED, 1, T0 + 1, T0 + 4, "local"),
        ("Commit", "unit", 2, Status.SUCCEEDED, 0, T0 + 5, T0 + 7, "local"),
        ("Commit", "docs", 0, Status.SKIPPED, None, None, T0 + 7, "local"),
        ("Release", "deploy", 1, Status.SUCCEEDED, 0, T0 + 11, T0 + 13, "staging-1"),
    ]
    first = store.attempts(rid)[0]
    assert (first.reason, first.command) == ("exit 1", "pytest -q")
    assert first.log_path == store.log_path(rid, "Commit", "unit", 1)


def test_logs_merge_streams_in_arrival_order_with_an_index(store: RunStore, tmp_path: Path):
    rid = feed_full_run(store)
    log = store.log_path(rid, "Commit", "unit", 1)
    assert log == tmp_path / ".cdtui" / "logs" / str(rid) / "commit" / "unit.1.log"
    assert log.read_text() == "collecting\nboom\n"
    assert [(e.offset, e.at, e.stream) for e in read_index(index_path(log))] == [
        (0, T0 + 2, STDOUT),
        (11, T0 + 3, STDERR),
    ]
    second = store.log_path(rid, "Commit", "unit", 2)
    assert second.read_text() == "ok all\n"
    assert [e.offset for e in read_index(index_path(second))] == [0, 2]
    assert store.log_path(rid, "Release", "deploy", 1).read_text() == "deployed\n"


def test_slugs_are_file_safe():
    assert slug("Load & Perf") == "load-perf"
    assert slug("seed-db") == "seed-db"
    assert slug("v1.2_x") == "v1.2_x"
    assert slug("../..") == "_"


@pytest.mark.parametrize(
    "table", ["runs", "run_states", "phase_states", "attempt_states", "approvals", "notices"]
)
def test_history_tables_reject_update_and_delete(store: RunStore, tmp_path: Path, table: str):
    feed_full_run(store)
    with sqlite3.connect(tmp_path / ".cdtui" / "runs.db") as conn:
        for sql in (f"UPDATE {table} SET run_id = 0", f"DELETE FROM {table}"):
            if table == "runs":
                sql = sql.replace("run_id", "id")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0


def test_two_stores_in_one_dir_share_history(tmp_path: Path):
    with RunStore(tmp_path) as a, RunStore(tmp_path) as b:
        ra = a.begin_run("p", "a", "all")
        rb = b.begin_run("p", "b", "all")
        a.record(RunStarted(ra, T0, "p", ("P",), "a"))
        b.record(RunStarted(rb, T0, "p", ("P",), "b"))
        b.record(RunFinished(rb, T0 + 1, Status.FAILED, "unit failed"))
        assert (ra, rb) == (1, 2)
        assert [(r.id, r.status) for r in a.recent_runs()] == [
            (2, Status.FAILED),
            (1, Status.RUNNING),
        ]
        assert a.mark_interrupted() == []  # both drivers (this process) are alive
    assert [r.id for r in RunStore(tmp_path).recent_runs(limit=1)] == [2]


def test_a_sigkilled_driver_leaves_an_interrupted_run_never_a_running_one(tmp_path: Path):
    child = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from cdtui.engine.events import StageOutput, StageStarted
        from cdtui.store import RunStore
        store = RunStore(Path(sys.argv[1]))
        rid = store.begin_run("shop", "ci", "all")
        store.record(StageStarted(rid, time.time(), "Commit", "unit", 1, "pytest"))
        store.record(StageOutput(rid, time.time(), "Commit", "unit", 1, "stdout", "line 1\\n"))
        store.flush()
        print(rid, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        rid = int(proc.stdout.readline())
        with RunStore(tmp_path) as store:
            assert store.mark_interrupted() == []  # alive: left alone
            assert store.attempts(rid)[0].status is Status.RUNNING
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert store.mark_interrupted() == [rid]
            assert store.mark_interrupted() == []  # idempotent
            run = store.run(rid)
            assert run is not None and run.status is Status.INTERRUPTED
            assert run.reason == f"cdtui process {proc.pid} died"
            [attempt] = store.attempts(rid)
            assert (attempt.status, attempt.reason) == (Status.INTERRUPTED, run.reason)
            assert attempt.log_path.read_text() == "line 1\n"  # flushed output survived
    finally:
        proc.kill()
        proc.wait()


def insert_run_driven_by(tmp_path: Path, who: liveness.ProcessIdentity) -> int:
    db = RunDB(tmp_path / ".cdtui" / "runs.db")
    try:
        rid = db.insert_run("p", "u", "all", time.time(), who)
        db.insert_run_state(rid, Status.RUNNING, time.time())
        db.insert_phase_state(rid, "P", Status.WAITING, time.time())
        return rid
    finally:
        db.close()


def test_a_reused_pid_or_a_reboot_means_the_driver_died(store: RunStore, tmp_path: Path):
    me = liveness.current()
    reused = insert_run_driven_by(tmp_path, replace(me, start_ticks=(me.start_ticks or 0) + 1))
    rebooted = insert_run_driven_by(tmp_path, replace(me, boot_id="another-boot"))
    alive = insert_run_driven_by(tmp_path, me)
    elsewhere = insert_run_driven_by(tmp_path, replace(me, hostname="some-other-host"))
    assert sorted(store.mark_interrupted()) == [reused, rebooted]
    statuses = {r.id: r.status for r in store.recent_runs()}
    assert statuses[alive] is Status.RUNNING and statuses[elsewhere] is Status.RUNNING
    assert "pid was reused" in (store.run(reused) or pytest.fail()).reason
    assert "rebooted" in (store.run(rebooted) or pytest.fail()).reason
    phases = rows(tmp_path, f"SELECT status FROM phase_states WHERE run_id = {reused} ORDER BY seq")
    assert phases == [("WAITING",), ("INTERRUPTED",)]


async def test_output_reaches_disk_within_the_flush_interval_on_a_loop(store: RunStore):
    rid = store.begin_run("p", "u", "all")
    store.record(StageStarted(rid, T0, "P", "s", 1, "x"))
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "first\n"))
    log = store.log_path(rid, "P", "s", 1)
    assert log.read_text() == ""  # buffered, not one write per chunk
    await asyncio.sleep(0.3)  # idle: the loop timer flushes
    assert log.read_text() == "first\n"
    assert len(read_index(index_path(log))) == 1


def test_without_a_loop_output_is_flushed_by_the_next_chunk_after_the_interval(store: RunStore):
    rid = store.begin_run("p", "u", "all")
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "a\n"))
    time.sleep(0.15)
    store.record(StageOutput(rid, T0, "P", "s", 1, "stderr", "b\n"))
    assert store.log_path(rid, "P", "s", 1).read_text() == "a\nb\n"


def test_undecodable_output_is_kept_not_dropped(store: RunStore):
    rid = store.begin_run("p", "u", "all")
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "bad \udcff byte\n"))
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "lone \ud800\n"))
    store.flush()
    assert store.log_path(rid, "P", "s", 1).read_bytes() == b"bad \xff byte\nlone ?\n"


def test_output_after_a_stage_finished_appends_to_the_same_log(store: RunStore):
    rid = store.begin_run("p", "u", "all")
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "one\n"))
    store.record(StageFinished(rid, T0, "P", "s", 1, Status.SUCCEEDED, 0))
    store.record(StageOutput(rid, T0, "P", "s", 1, "stdout", "late\n"))
    store.flush()
    log = store.log_path(rid, "P", "s", 1)
    assert log.read_text() == "one\nlate\n"
    assert [e.offset for e in read_index(index_path(log))] == [0, 4]


@settings(max_examples=50, deadline=None)
@given(chunks=st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.text()), max_size=30))
def test_log_and_index_describe_exactly_the_chunks(tmp_path_factory, chunks):
    with RunStore(tmp_path_factory.mktemp("p")) as store:
        rid = store.begin_run("p", "u", "all")
        store.record(StageStarted(rid, T0, "P", "s", 1, "x"))
        for i, (stream, text) in enumerate(chunks):
            store.record(StageOutput(rid, T0 + i, "P", "s", 1, stream, text))
        store.record(StageFinished(rid, T0, "P", "s", 1, Status.SUCCEEDED, 0))
        log = store.log_path(rid, "P", "s", 1)
        data = log.read_bytes() if chunks else b""  # a silent attempt creates no log file
        index = read_index(index_path(log))
    encoded = [text.encode() for _, text in chunks]
    assert len(index) == len(chunks)
    ends = ([e.offset for e in index] + [len(data)])[1:]
    for entry, end, (stream, _), raw, i in zip(
        index, ends, chunks, encoded, range(len(chunks)), strict=True
    ):
        assert entry.at == T0 + i
        assert entry.stream == (STDERR if stream == "stderr" else STDOUT)
        assert data[entry.offset : end] == raw


def test_a_stored_run_shows_each_phase_as_the_engine_said_it(store: RunStore):
    """phase_states are read back: a gate still waiting, a phase skipped with its reason."""
    from cdtui.engine.state import RunState

    rid = store.begin_run("shop", "alice", "all")
    for event in (
        RunStarted(rid, T0, "shop", ("Commit", "Docs", "Release"), "alice"),
        PhaseStarted(rid, T0, "Commit"),
        StageStarted(rid, T0, "Commit", "unit", 1, "pytest"),
        StageFinished(rid, T0 + 1, "Commit", "unit", 1, Status.SUCCEEDED, 0),
        PhaseFinished(rid, T0 + 1, "Commit", Status.SUCCEEDED),
        PhaseFinished(rid, T0 + 1, "Docs", Status.SKIPPED, "when: manual"),
        GateWaiting(rid, T0 + 2, "Release", ("deploy",)),
    ):
        store.record(event)
    phases = RunState.from_store(store, rid).phases
    assert [(p.name, p.status, p.reason) for p in phases.values()] == [
        ("Commit", Status.SUCCEEDED, ""),
        ("Docs", Status.SKIPPED, "when: manual"),
        ("Release", Status.WAITING, ""),
    ]
