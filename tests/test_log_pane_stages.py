"""The log pane across stages: search and filter are each log's own, the match count counts only
lines the filter shows, a long last line is not hidden under the horizontal scrollbar, and ``e``
says so when there is no error to jump to."""

from __future__ import annotations

from pathlib import Path

from test_log_pane import Host, opened, wait_for, write_log

from cdtui.store.logs import LogWriter
from cdtui.ui.widgets.log_pane import LogPane

SIZE = (60, 14)


def screen_rows(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def scanned(pilot, pane: LogPane) -> None:
    """Until every query of the shown log has read all of it."""
    state = pane.state

    def done() -> bool:
        log = state.log
        return not state.scanning and all(not q.stale(log) for q in state.queries())

    await wait_for(pilot, done)
    await pilot.pause()


async def test_search_and_filter_stay_with_their_stage(tmp_path: Path):
    a, b = tmp_path / "a.1.log", tmp_path / "b.1.log"
    write_log(a, 30)
    write_log(b, 30)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, a)
        pane.filter("line 1")
        pane.search("line 2")  # hidden by the filter but for none: 0 shown matches
        await scanned(pilot, pane)
        assert "shown" in str(pane.border_subtitle)
        pane.show(b, "b")
        await pilot.pause()
        assert pane.state.search is None and pane.state.rows.filter is None
        assert str(pane.border_subtitle) == "following · 30 lines"
        pane.show(a, "a")  # back: as it was left
        await scanned(pilot, pane)
        assert pane.state.rows.filter.text == "line 1" and pane.state.search.text == "line 2"


async def test_the_match_count_counts_only_shown_lines(tmp_path: Path):
    path = tmp_path / "t.1.log"
    writer = LogWriter(path)
    writer.write(0.0, 1, "".join(f"{w} {i}\n" for i in range(10) for w in ("keep", "drop")))
    writer.close()
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        pane.search(" 3")  # "keep 3" and "drop 3"
        await scanned(pilot, pane)
        assert pane.match_count == 2
        pane.filter("keep")
        await scanned(pilot, pane)
        assert pane.match_count == 1
        assert "match" in str(pane.border_subtitle) and "/1" in str(pane.border_subtitle)
        pane.next_match()
        pane.next_match()  # wraps within the shown matches, never onto the hidden "drop 3"
        assert pane.state.mark == 6  # "keep 3" is line 6


async def test_a_long_last_line_is_not_hidden_by_the_scrollbar(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 40)
    writer = LogWriter(path)
    writer.write(0.0, 1, "VERDICT: " + "x" * 200 + "\n")
    writer.close()
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        await pilot.pause(0.2)
        rows = screen_rows(app)
        assert any("VERDICT" in row for row in rows), "\n".join(rows)
        assert pane.scroll_y == pane.max_scroll_y


async def test_first_error_says_when_there_is_none(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 5)
    app = Host()
    async with app.run_test(size=(90, 14)) as pilot:
        pane = await opened(pilot, path)
        pane.jump_to_first_error()
        await wait_for(pilot, lambda: any("No error" in n.message for n in app._notifications))
        pane.show(None, "not started")
        pane.jump_to_first_error()
        await wait_for(pilot, lambda: any("no log" in n.message for n in app._notifications))
