"""The console while a load stage runs: its graphs above its log, a second at a time; the
headless renderer's progress line with the seconds left."""

from __future__ import annotations

import io
from pathlib import Path

from textual.app import App, ComposeResult

from cdtui.engine.events import LoadProgress, Status
from cdtui.headless import HeadlessRenderer
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.widgets.load_graph import LoadGraph, sparkline
from tests.load_server import load_server_fixture  # noqa: F401 - provides load_server
from tests.test_console import wait_for


async def test_a_running_load_stage_shows_live_graphs_refreshed_each_second(
    tmp_path: Path, load_server
):
    base = load_server()
    (tmp_path / "cdtui.yaml").write_text(
        "project: p\nphases:\n  - name: Perf\n    stages:\n      - name: load\n"
        f"        load: {{url: '{base}/fast', rate: 200/s, duration: 3s}}\n"
    )
    app = CdtuiApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        screen = app.screen
        assert isinstance(screen, MainScreen)
        graph = screen.query_one(LoadGraph)
        assert not graph.display  # nothing sent yet: no graphs
        await pilot.press("r")
        await wait_for(pilot, lambda: graph.display and len(graph.history[("Perf", "load")]) >= 2)
        text = str(graph.render())
        lines = text.splitlines()
        assert [line.split()[0] for line in lines] == ["rate", "errors", "p50", "p95", "p99"]
        assert "/s of 200/s" in lines[0] and "0.0%" in lines[1] and lines[4].endswith(" ms")
        assert "s left" in str(graph.border_title) and "requests" in str(graph.border_title)
        await wait_for(pilot, lambda: screen.state.status is Status.SUCCEEDED)
        seconds = [p.second for p in graph.history[("Perf", "load")]]
        assert seconds[:2] == [1, 2]  # one progress a second, in order


def test_the_sparkline_scales_to_its_top():
    assert sparkline([0, 50, 100, 200], 100) == "▁▅██"
    assert sparkline([0, 0], 0) == "▁▁"


def test_headless_prints_a_compact_progress_line_with_seconds_left():
    out = io.StringIO()
    render = HeadlessRenderer(out, color=False)
    render(
        LoadProgress(
            1, 0.0, "Perf", "load", 1, 3, 10.0, 498.0, 500.0, 0.002, 1.2, 3.4, 9.1, 1500, 3
        )
    )
    assert out.getvalue().split(maxsplit=1)[1].strip() == (
        "⏱ 3s, 7s left · 498/s of 500/s · errors 0.2% · p50 1.2 p95 3.4 p99 9.1 ms"
    )


class GraphApp(App[None]):
    """The graphs alone, fed ten seconds of a run whose server stalled in seconds 5 and 6."""

    def compose(self) -> ComposeResult:
        yield LoadGraph(id="load")

    def on_mount(self) -> None:
        graph = self.query_one(LoadGraph)
        for second in range(1, 11):
            stalled = second in (5, 6)
            graph.apply(
                LoadProgress(
                    1,
                    0.0,
                    "Perf",
                    "load",
                    1,
                    second,
                    30.0,
                    40.0 if second == 5 else 360.0 if second == 6 else 200.0,
                    200.0,
                    0.05 if second == 6 else 0.0,
                    1.1,
                    600.0 if stalled else 2.5,
                    980.0 if stalled else 4.0,
                    200 * second,
                    10 if second >= 6 else 0,
                )
            )
        graph.show_for(("Perf", "load"))


def test_graph_snapshot(snap_compare):
    assert snap_compare(GraphApp(), terminal_size=(80, 9))
