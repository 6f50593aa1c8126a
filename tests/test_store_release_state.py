"""Release state in runs.db: one row per release event, the old side files carried over once
(whatever step a crash interrupts), and a writer that never loses a row silently."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdtui.engine.events import RunStarted, StageStarted, Status
from cdtui.release import deployments, poller
from cdtui.release.context import _last_released_commit
from cdtui.release.events import AlertRaised, ColourDeployed, CommitReleased
from cdtui.release.watch import Moment
from cdtui.store import Deployment, RunStore, writer

SHA_A, SHA_B = "a" * 64, "b" * 64


def rows(project: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(project / ".cdtui" / "runs.db") as conn:
        return conn.execute(sql).fetchall()


def old_layout(project: Path) -> Path:
    """A .cdtui/ as the previous cdtui left it: the three side files, one line unreadable."""
    root = project / ".cdtui"
    root.mkdir(parents=True)
    lines = [
        {"colour": "blue", "sha256": SHA_A, "artifact": "dist/a.pyz", "built_by": 1,
         "run_id": 2, "at": 10.0},
        {"colour": "green", "sha256": SHA_A, "artifact": "dist/a.pyz", "built_by": 1,
         "run_id": 3, "at": 11.0},
        {"colour": "green", "sha256": SHA_B, "artifact": "dist/b.pyz", "built_by": 4,
         "run_id": 5, "at": 12.0},
    ]  # fmt: skip
    text = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    (root / "deployments.jsonl").write_text(text)
    alerts = [{"at": 20.0 + i, "text": f"alert {i}", "level": "error"} for i in range(3)]
    (root / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    (root / "released-commit").write_text("c0ffee" * 6 + "\n")
    return root


def assert_carried(project: Path) -> None:
    latest = deployments.latest(project)  # the readers open the store: that carries over
    assert {c: (d.sha256, d.run_id) for c, d in latest.items()} == {
        "blue": (SHA_A, 2),
        "green": (SHA_B, 5),
    }
    assert [m.text for m in poller.load_alerts(project)] == ["alert 0", "alert 1", "alert 2"]
    assert _last_released_commit(project) == "c0ffee" * 6
    assert rows(project, "SELECT COUNT(*) FROM deployments") == [(3,)]
    assert rows(project, "SELECT COUNT(*) FROM alerts") == [(3,)]
    assert rows(project, "SELECT COUNT(*) FROM released_commits") == [(1,)]


def test_release_events_are_one_row_each_and_read_back_typed(tmp_path: Path):
    with RunStore(tmp_path) as store:
        store.record(ColourDeployed(7, 1.0, "green", SHA_A, "dist/a.pyz", 6))
        store.record(ColourDeployed(8, 2.0, "green", SHA_B, "dist/b.pyz", 6))
        store.record(AlertRaised(0, 3.0, "blue unhealthy", "error", "release"))
        store.record(CommitReleased(8, 4.0, "abc123"))
        assert store.latest_deployments() == {
            "green": Deployment("green", SHA_B, "dist/b.pyz", 6, 8, 2.0)
        }
        [alert] = store.alerts()
        assert (alert.text, alert.level, alert.source, alert.at) == (
            "blue unhealthy",
            "error",
            "release",
            3.0,
        )
        assert store.last_released_commit() == "abc123"
    assert rows(tmp_path, "SELECT COUNT(*) FROM deployments") == [(2,)]
    with sqlite3.connect(tmp_path / ".cdtui" / "runs.db") as conn:
        for table in ("deployments", "alerts", "released_commits"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"DELETE FROM {table}")


def test_the_old_module_writers_go_through_the_same_rows(tmp_path: Path):
    deployments.record(tmp_path, Deployment("blue", SHA_A, "dist/a.pyz", 1, 2, 5.0))
    poller.store_alert(tmp_path, Moment(6.0, "green down", "warning"))
    assert rows(tmp_path, "SELECT colour, run_id, at FROM deployments") == [("blue", 2, 5.0)]
    assert rows(tmp_path, "SELECT text, level, source FROM alerts") == [
        ("green down", "warning", "release")
    ]
    assert poller.load_alerts(tmp_path, limit=1) == [Moment(6.0, "green down", "warning")]


def test_readers_of_a_project_that_never_ran_create_nothing(tmp_path: Path):
    assert deployments.latest(tmp_path) == {}
    assert poller.load_alerts(tmp_path) == []
    assert _last_released_commit(tmp_path) == ""
    assert not (tmp_path / ".cdtui").exists()


def test_the_old_layout_is_carried_over_once_and_kept_renamed(tmp_path: Path):
    root = old_layout(tmp_path)
    assert_carried(tmp_path)
    for name in ("deployments.jsonl", "alerts.jsonl", "released-commit"):
        assert not (root / name).exists()
        assert (root / f"{name}.migrated").is_file()
    RunStore(tmp_path).close()
    assert_carried(tmp_path)  # opened again: nothing twice
    assert rows(tmp_path, "SELECT name, rows FROM carried_over ORDER BY seq") == [
        ("deployments.jsonl", 3),
        ("alerts.jsonl", 3),
        ("released-commit", 1),
    ]


def test_a_side_file_written_again_by_an_old_cdtui_is_carried_too(tmp_path: Path):
    root = old_layout(tmp_path)
    RunStore(tmp_path).close()
    (root / "alerts.jsonl").write_text(json.dumps({"at": 30.0, "text": "late", "level": "info"}))
    RunStore(tmp_path).close()
    assert [m.text for m in poller.load_alerts(tmp_path)][-1] == "late"
    assert (root / "alerts.jsonl.migrated.2").is_file()


CRASHING_OPEN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import cdtui.store.carryover as carryover
    where = sys.argv[2]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "mid-insert":  # SIGKILL after the first alert row, before COMMIT
        real = carryover.insert_alert
        def insert_then_die(db, alert):
            real(db, alert)
            die()
        carryover.insert_alert = insert_then_die
    else:  # after COMMIT, before the file is renamed .migrated
        carryover.os.replace = die
    from cdtui.store import RunStore
    RunStore(Path(sys.argv[1]))
    """
)


@pytest.mark.parametrize("where", ["mid-insert", "after-commit"])
def test_a_crash_mid_import_neither_loses_nor_doubles_a_row(tmp_path: Path, where: str):
    old_layout(tmp_path)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_OPEN, str(tmp_path), where])
    assert crashed.returncode == -9  # really killed mid-way
    left = sorted(p.name for p in (tmp_path / ".cdtui").iterdir() if "importing" in p.name)
    assert left  # the crash left an import half done
    assert_carried(tmp_path)
    assert not [p for p in (tmp_path / ".cdtui").iterdir() if "importing" in p.name]


@contextlib.contextmanager
def lock_held(project: Path) -> Iterator[subprocess.Popen]:
    """Another process holds runs.db's write lock until the block ends."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(project / ".cdtui" / "runs.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline() == "locked\n"
        yield locker
    finally:
        locker.stdin.close()
        locker.wait(timeout=10)


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()  # held until the test closes our stdin
    conn.execute("COMMIT")
    """
)


def test_record_returns_while_another_process_holds_the_lock_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(writer, "BUSY_TIMEOUT_S", 0.2)  # say a long lock sooner
    told: list[str] = []
    with RunStore(tmp_path) as store:
        store.on_problem(told.append)
        rid = store.begin_run("p", "u", "all")
        with lock_held(tmp_path) as locker:
            store.record(RunStarted(rid, 1.0, "p", ("P",), "u"))
            for i in range(50):
                store.record(StageStarted(rid, 2.0 + i, "P", f"s{i}", 1, "true"))
            # Returned with the lock still held: nothing written yet, reads do not wait.
            assert locker.poll() is None
            assert rows(tmp_path, "SELECT COUNT(*) FROM attempt_states") == [(0,)]
            assert store.run(rid).status is Status.PENDING  # what is committed so far
            assert not store.sync(timeout=0.5)  # still queued, not dropped
            assert any("locked by another process" in t and "none lost" in t for t in told)
        assert store.sync(timeout=10)
        stages = [s for (s,) in rows(tmp_path, "SELECT stage FROM attempt_states ORDER BY seq")]
        assert stages == [f"s{i}" for i in range(50)]  # all, in order
        assert store.run(rid).status is Status.RUNNING
        assert store.lost == []
        assert any("writable again" in t for t in told)


def test_a_failed_write_is_told_and_the_rows_after_it_still_land(tmp_path: Path):
    told: list[str] = []
    with RunStore(tmp_path) as store:
        store.on_problem(told.append)
        store.record(AlertRaised(0, 1.0, None, "error"))  # type: ignore[arg-type]  # NOT NULL
        store.record(AlertRaised(0, 2.0, "after it", "error"))
        assert store.sync(timeout=10)
        assert [a.text for a in store.alerts()] == ["after it"]
        assert store.lost == ["AlertRaised of run 0"]
        assert any("was not recorded" in t and "NOT NULL" in t for t in told)


def test_closing_under_a_lock_that_never_ends_reports_what_is_lost(tmp_path: Path):
    RunStore(tmp_path).close()  # the schema exists
    with lock_held(tmp_path):
        w = writer.Writer(tmp_path / ".cdtui" / "runs.db")
        w.submit(lambda db: db.execute("INSERT INTO alerts (run_id, text, level, at)"
                                       " VALUES (0, 'x', 'info', 0)"), "an alert")  # fmt: skip
        w.close(timeout=0.3)  # returns: bounded, not hung on the lock
        assert w.closed and w.lost == ["an alert"]
