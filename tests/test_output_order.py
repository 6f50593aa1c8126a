"""A stage's output reads in the order it was written, across stdout and stderr.

Two pipes cannot keep that order (the parent drains one pipe's buffered data before the other's,
FIELD-NOTES), so local stages write both to one pipe; remote stages merge them on the host.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cdtui.engine.events import StageOutput, Status
from cdtui.runners.local import LocalProcess
from cdtui.store import RunStore
from tests.conftest import EngineFactory, pipeline_of
from tests.sshd import SshServer, run_remote

ROUNDS = 200
ALTERNATE = (
    "import sys\n"
    f"for i in range({ROUNDS}):\n"
    "    print(f'out {i}', flush=True)\n"
    "    print(f'err {i}', file=sys.stderr, flush=True)\n"
)
EXPECTED = "".join(f"out {i}\nerr {i}\n" for i in range(ROUNDS))
SHELL = "echo 1; echo 2 >&2; echo 3"


async def _run_stored(make_engine: EngineFactory, state: Path, run: object) -> tuple[str, str]:
    """Run one stage with a real store in ``state``: (its StageOutput text, its stored log)."""
    pipeline = pipeline_of({"name": "P", "stages": [{"name": "mixed", "run": run}]})
    state.mkdir(exist_ok=True)
    with RunStore(state) as store:
        engine, events = make_engine(pipeline)
        engine.subscribe(store.record)
        assert await engine.run() is Status.SUCCEEDED
        store.flush()
        log = store.log_path(1, "P", "mixed", 1).read_text()
    return "".join(e.text for e in events.of(StageOutput) if e.stage == "mixed"), log


async def test_python_alternating_flushed_lines_keep_their_order(make_engine, tmp_path):
    run = [sys.executable, "-c", ALTERNATE]
    shown, stored = await _run_stored(make_engine, tmp_path / "state", run)
    assert shown == EXPECTED
    assert stored == EXPECTED


async def test_shell_echo_to_stdout_stderr_stdout_keeps_its_order(make_engine, tmp_path):
    for n in range(20):  # each run is a fresh race between the two writes
        shown, stored = await _run_stored(make_engine, tmp_path / f"state{n}", SHELL)
        assert shown == "1\n2\n3\n"
        assert stored == "1\n2\n3\n"


async def test_local_process_hands_both_streams_over_as_one_in_order(tmp_path):
    got: list[tuple[str, bytes]] = []
    process = LocalProcess(
        [sys.executable, "-c", ALTERNATE],
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin"},
        on_output=lambda stream, data: got.append((stream, data)),
    )
    process.start()
    result = await process.wait(30)
    assert result.status is Status.SUCCEEDED
    assert b"".join(data for _, data in got).decode() == EXPECTED
    assert {stream for stream, _ in got} == {"stdout"}


@pytest.mark.usefixtures("pool")
async def test_remote_alternating_lines_keep_their_order(pool, sshd: SshServer):
    script = "; ".join(f"echo out {i}; echo err {i} >&2" for i in range(ROUNDS))
    result, out, _ = await run_remote(pool, sshd, script)
    assert result.status is Status.SUCCEEDED
    assert b"".join(data for _, data in out.chunks).decode() == EXPECTED
