"""After ``kill -9`` of cdtui, the next start names the stage processes still alive and
``cdtui history --end-orphans`` ends them (store/orphans.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_process_tree import _alive

CDTUI = [sys.executable, "-m", "cdtui.cli"]
STAGE = (
    "sleep 300 & setsid sh -c 'echo $$ > esc; sleep 301' </dev/null >/dev/null 2>&1 & "
    "setsid env -i sh -c 'sleep 302 </dev/null >/dev/null 2>&1 & echo $! > bare'; "
    "echo $$ > pid; echo started; wait"
)


def _cdtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CDTUI, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _bare_group_recorded(project: Path) -> bool:
    try:
        with sqlite3.connect(project / ".cdtui" / "runs.db") as conn:
            return bool(conn.execute("SELECT 1 FROM stage_procs WHERE token = ''").fetchall())
    except sqlite3.Error:
        return False


@pytest.fixture
def crashed(tmp_path: Path):
    """A headless run killed with SIGKILL mid-stage, once it recorded the marker-less orphan's
    group; yields (main pid, setsid escapee, escapee without marker nor group)."""
    (tmp_path / "cdtui.yaml").write_text(
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        f'      - {{name: long, run: "{STAGE}"}}\n'
    )
    proc = subprocess.Popen(
        [*CDTUI, "run", "--headless", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if b"started" in line:
            break
    deadline = time.monotonic() + 10
    while not _bare_group_recorded(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pids = tuple(int((tmp_path / name).read_text()) for name in ("pid", "esc", "bare"))
    yield pids
    for pid in pids:
        if _alive(pid):
            os.killpg(os.getpgid(pid), 9)


def test_history_names_the_orphans_and_end_orphans_ends_them(tmp_path: Path, crashed):
    main, escapee, bare = crashed
    assert _alive(main) and _alive(escapee) and _alive(bare)
    shown = _cdtui("history", str(tmp_path), cwd=tmp_path)
    assert "INTERRUPTED" in shown.stdout
    assert "still alive" in shown.stderr and "--end-orphans" in shown.stderr
    assert f"pid {main} (bash)" in shown.stderr and f"pid {escapee} (sh)" in shown.stderr
    assert f"pid {bare} (sleep)" in shown.stderr and "P/long" in shown.stderr
    assert shown.stderr.startswith("5 process(es)")
    ended = _cdtui("history", "--end-orphans", str(tmp_path), cwd=tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert f"ended pid {escapee}" in ended.stderr
    assert not _alive(main) and not _alive(escapee) and not _alive(bare)
    again = _cdtui("history", str(tmp_path), cwd=tmp_path)
    assert "still alive" not in again.stderr


def test_a_finished_run_names_no_orphan(tmp_path: Path):
    """A keep_children daemon of a run that ended normally is intended: it is not named."""
    (tmp_path / "cdtui.yaml").write_text(
        "project: demo\nphases:\n  - name: P\n    stages:\n"
        "      - {name: d, run: 'sleep 300 & echo $! > pid', keep_children: true}\n"
    )
    assert _cdtui("run", "--headless", str(tmp_path), cwd=tmp_path).returncode == 0
    pid = int((tmp_path / "pid").read_text())
    try:
        assert "still alive" not in _cdtui("history", str(tmp_path), cwd=tmp_path).stderr
    finally:
        os.kill(pid, 9)


async def test_the_console_says_so(tmp_path: Path, crashed):
    from cdtui.ui.app import CdtuiApp
    from cdtui.ui.screens.main import MainScreen

    main, escapee, _ = crashed
    app = CdtuiApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        told: list[str] = []
        for _ in range(200):
            told = [n.message for n in app._notifications if n.title == "Orphans"]
            if told:
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, MainScreen)
    assert len(told) == 1
    assert told[0].startswith("5 process(es) of interrupted runs still alive: ")
    assert f"pid {main} (bash)" in told[0] and "cdtui history --end-orphans" in told[0]
    assert _alive(escapee)  # named, not ended: the operator decides
