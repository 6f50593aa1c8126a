"""The console says why a stage failed or was skipped, as headless does, and after a run opens
the log of the first failure rather than of the last stage to finish. Real runs."""

from __future__ import annotations

from pathlib import Path

from test_console import main_screen, project, wait_for

from cdtui.ui.app import CdtuiApp

PIPELINE = """\
project: demo
phases:
  - name: Build
    stages:
      - {name: a, run: "echo about to fail; exit 3"}
      - {name: b, run: "echo never", needs: [a]}
      - {name: slow, run: "sleep 0.5; echo finished last"}
  - name: Ship
    stages:
      - {name: deploy, run: "echo deployed"}
"""


def label(app: CdtuiApp, phase: str, stage: str) -> str:
    tree = main_screen(app).phase_tree
    return tree._by_ref[(phase, stage)].label.plain


async def test_failure_reasons_and_the_pane_opens_on_the_first_failure(tmp_path: Path):
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: hasattr(app.screen, "first"))
        await pilot.press("r")
        await wait_for(pilot, lambda: app.session.engine is not None)
        await wait_for(pilot, lambda: not app.session.running, timeout=20)
        screen = main_screen(app)
        failed = "Build / a · FAILED: exit code 3"
        await wait_for(pilot, lambda: str(screen.first.border_title) == failed)
        assert screen._selected_key() == ("Build", "a")  # not "slow", which finished last
        assert "exit code 3" in label(app, "Build", "a")
        assert "needs 'a'" in label(app, "Build", "b")  # as much as fits; the title has it all
        screen.phase_tree.select_stage("Build", "b")
        skipped = "Build / b · SKIPPED: needs 'a', which failed"
        await wait_for(pilot, lambda: str(screen.first.border_title) == skipped)
        screen.phase_tree.select_stage("Ship", "deploy")
        await wait_for(pilot, lambda: "not started" in str(screen.first.border_title))
