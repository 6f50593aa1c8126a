"""LogPane: follows a growing log file, pauses when scrolled up, searches, filters, marks."""

from __future__ import annotations

import re
import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult

from cdtui.store.logs import STDERR, STDOUT, LogWriter
from cdtui.ui.widgets.log_pane import LogPane

SIZE = (60, 14)  # the pane shows 12 rows inside its border


class Host(App):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[LogPane.StatusChanged] = []

    def compose(self) -> ComposeResult:
        yield LogPane()

    def on_log_pane_status_changed(self, message: LogPane.StatusChanged) -> None:
        self.statuses.append(message)


def write_log(path: Path, count: int, start: int = 0, stream: int = STDOUT) -> None:
    writer = LogWriter(path)
    writer.write(time.time(), stream, "".join(f"line {i}\n" for i in range(start, start + count)))
    writer.close()


def visible(pane: LogPane) -> list[str]:
    return [pane.render_line(y).text.rstrip() for y in range(pane.size.height)]


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.02)


async def opened(pilot, path: Path) -> LogPane:
    pane = pilot.app.query_one(LogPane)
    pane.show(path, "build / test")
    pane.focus()
    await pilot.pause()
    return pane


async def test_follows_the_tail_and_shows_new_lines_after_refresh(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 100)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        assert pane.following and pane.line_count == 100
        assert visible(pane)[-1] == "line 99"
        write_log(path, 3, start=100)
        pane.refresh_from_disk()
        await pilot.pause()
        assert pane.line_count == 103
        assert visible(pane)[-3:] == ["line 100", "line 101", "line 102"]
        assert app.statuses[-1].text == "following · 103 lines"


async def test_up_pageup_home_and_wheel_pause_and_end_resumes(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 100)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        for keys in (["up"], ["pageup"], ["home"]):
            await pilot.press(*keys)
            await pilot.pause()
            assert not pane.following, keys
            assert app.statuses[-1].text.startswith("⏸ paused — End to follow")
            await pilot.press("end")
            await pilot.pause()
            assert pane.following and visible(pane)[-1] == "line 99"
        await pilot._post_mouse_events([events.MouseScrollUp], pane, offset=(5, 5))
        assert not pane.following
        write_log(path, 5, start=100)
        pane.refresh_from_disk()
        await pilot.pause()
        assert pane.line_count == 105 and visible(pane)[-1] != "line 104"  # stays put
        await pilot.press("end")
        await pilot.pause()
        assert visible(pane)[-1] == "line 104"


async def test_a_log_that_does_not_exist_yet_waits_and_then_appears(tmp_path: Path):
    path = tmp_path / "later.1.log"
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(LogPane)
        pane.show(None, "select a stage to see its log")
        await pilot.pause()
        assert visible(pane)[0] == "select a stage to see its log"
        pane.show(path, "later")
        await pilot.pause()
        assert visible(pane)[0] == "waiting for output…"
        path.write_text("hello\npart")
        pane.refresh_from_disk()
        await pilot.pause()
        assert visible(pane)[:2] == ["hello", "part"]
        with path.open("a") as handle:
            handle.write("ial\n")
        pane.refresh_from_disk()
        await pilot.pause()
        assert visible(pane)[:3] == ["hello", "partial", ""]


async def test_search_counts_matches_and_n_moves_between_them(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 200)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        assert not pane.check_action("next_match", ())  # n/N only while a search exists
        pane.search("line 1")  # 1, 10-19, 100-199
        await wait_for(pilot, lambda: pane.match_count == 111 and pane.match_index)
        assert pane.match_index == 100 and pane.following  # the first one on screen: no jump
        assert pane.check_action("next_match", ())
        await pilot.press(*"n" * 12)  # to 111, then around to 1
        await pilot.pause()
        assert pane.match_index == 1 and not pane.following
        assert "line 1" in visible(pane)
        await pilot.press("n", "n")
        await pilot.pause()
        assert (pane.match_index, app.statuses[-1].text.split(" · ")[-1]) == (3, "match 3/111")
        await pilot.press("N", "N", "N")
        await pilot.pause()
        assert pane.match_index == 111
        strip = pane.render_line(visible(pane).index("line 199"))
        highlighted = [seg.text for seg in strip if seg.style and seg.style.bold]
        assert "line 1" in highlighted
        pane.clear_search()
        await pilot.pause()
        assert pane.match_count == 0 and not pane.check_action("next_match", ())


async def test_filter_and_inverted_filter_show_only_those_lines(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 50)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        pane.filter("line 4")
        wanted = ["line 4", *(f"line {i}" for i in range(40, 50)), ""]
        await wait_for(pilot, lambda: visible(pane) == wanted)
        assert app.statuses[-1].shown == 11
        pane.filter("1", invert=True)
        await wait_for(pilot, lambda: app.statuses[-1].shown == 36)
        assert not any("1" in line for line in visible(pane))
        write_log(path, 2, start=50)  # the filter extends as the log grows
        pane.refresh_from_disk()
        await wait_for(pilot, lambda: visible(pane)[-1] == "line 50")
        pane.clear_filter()
        await pilot.pause()
        assert visible(pane)[-1] == "line 51"


async def test_timestamps_marker_and_first_error(tmp_path: Path):
    path = tmp_path / "t.1.log"
    writer = LogWriter(path)
    at = time.mktime((2024, 5, 1, 10, 31, 2, 0, 0, -1)) + 0.25
    writer.write(at, STDOUT, "".join(f"ok {i}\n" for i in range(40)))
    writer.write(at, STDERR, "warning on stderr\n")
    writer.write(at, STDOUT, "".join(f"ok {i}\n" for i in range(40, 80)))
    writer.flush()
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        await pilot.press("t")
        await pilot.pause()
        assert visible(pane)[-1] == "10:31:02.250 ok 79"
        await pilot.press("t", "m")
        await pilot.pause()
        assert re.fullmatch(r"──── marker \d\d:\d\d:\d\d ─+", visible(pane)[-1])
        writer.write(at, STDOUT, "after the marker\n")
        writer.flush()
        pane.refresh_from_disk()
        await pilot.pause()
        assert visible(pane)[-3] == "ok 79"
        assert visible(pane)[-2].startswith("──── marker")
        assert visible(pane)[-1] == "after the marker"
        await pilot.press("e")
        await wait_for(pilot, lambda: "warning on stderr" in visible(pane))
        assert not pane.following
        writer.close()


async def test_a_big_backlog_is_read_in_a_thread(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 200_000)  # ~2.3 MB: over the inline limit
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        await wait_for(pilot, lambda: pane.line_count == 200_000)
        await pilot.pause()
        assert visible(pane)[-1] == "line 199999"


async def test_a_filter_keeps_up_with_lines_that_arrive_while_it_scans(tmp_path: Path):
    path = tmp_path / "t.1.log"
    write_log(path, 300_000)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pane = await opened(pilot, path)
        await wait_for(pilot, lambda: pane.line_count == 300_000)
        pane.filter("line 2999")  # 2999, 29990-29999, 299900-299999: 111 lines
        write_log(path, 10, start=2_999_000)  # matching lines arrive before the scan ends
        pane.refresh_from_disk()
        await wait_for(pilot, lambda: not pane.state.scanning and app.statuses[-1].shown == 121)
        await wait_for(pilot, lambda: visible(pane)[-1] == "line 2999009")  # still following
        pane.filter("nowhere")
        await pilot.press("e")  # no error line: the pane says so (from a worker's callback)
        await wait_for(pilot, lambda: len(app._notifications) == 1)
