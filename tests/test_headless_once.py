"""The headless renderer says each thing once: a stage whose log's last line already gave its
verdict (the release stage's ``succeeded: green is live``) ends without repeating it; another
stage's reason is still printed; the summary has a row per stage, the release's included."""

from __future__ import annotations

from io import StringIO

from cdtui.engine.events import RunFinished, StageFinished, StageOutput, StageStarted, Status
from cdtui.headless import HeadlessRenderer

VERDICT = "green is live; blue is kept warm for 10m"


def test_a_verdict_the_log_just_said_is_not_printed_again():
    out = StringIO()
    render = HeadlessRenderer(out, color=False)
    render(StageStarted(1, 1.0, "Build", "a", 1, "exit 3"))
    render(StageOutput(1, 1.1, "Build", "a", 1, "stdout", "about to fail\n"))
    render(StageFinished(1, 1.2, "Build", "a", 1, Status.FAILED, 3, "exit code 3", 0.2))
    render(StageStarted(1, 2.0, "Release", "release", 1, "blue/green release"))
    render(
        StageOutput(1, 2.1, "Release", "release", 1, "stdout", f"09:28:18 succeeded: {VERDICT}\n")
    )
    render(StageFinished(1, 2.2, "Release", "release", 1, Status.SUCCEEDED, 0, VERDICT, 0.2))
    render(RunFinished(1, 3.0, Status.FAILED, "phase 'Build' FAILED"))
    live = out.getvalue()
    assert live.count(VERDICT) == 1 and "✓ release succeeded 0.2s\n" in live
    assert "✗ a failed 0.2s — exit code 3" in live  # not said by its log: said here
    render.summary()
    rows = out.getvalue()[len(live) :]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in rows.splitlines()]
    assert ["Release", "release", "SUCCEEDED"] in [row[:3] for row in cells if len(row) > 3]
