"""Exit 77 skips a stage with its last line as the reason (cdtui/stages/skip.py)."""

from __future__ import annotations

from cdtui.engine.events import Status
from tests.conftest import pipeline_of


async def test_exit_77_is_skipped_with_the_last_line_and_the_phase_passes(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "a", "run": "echo working; echo 'no chromium here' >&2; exit 77"},
                {"name": "b", "run": "exit 3"},
                {"name": "after", "run": "true", "needs": ["a"]},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    await engine.run()
    a, b = events.final("a"), events.final("b")
    assert (a.status, a.exit_code, a.reason) == (Status.SKIPPED, 77, "no chromium here")
    assert (b.status, b.reason) == (Status.FAILED, "exit code 3")  # other codes still fail
    assert events.final("after").reason == "needs 'a', which skipped"


async def test_a_passing_phase_with_a_skipped_stage_succeeds(make_engine):
    pipeline = pipeline_of({"name": "P", "stages": [{"name": "a", "run": "exit 77"}]})
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert events.final("a").reason == "the command exited 77 (skipped)"
