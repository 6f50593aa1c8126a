"""The console's log pane: a live view of one stage attempt's log file, read back from disk.

Only the rows on screen are rendered (Line API), so a ten-million-line log costs what forty
lines do. The app's one shared timer calls ``refresh_from_disk`` (an ``fstat`` when nothing
changed); big reads, searches and filters run in worker threads, never on the UI loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cdtui.ui import log_view
from cdtui.ui.log_view import MARKER, LineStyles, Marker, PaneState, Query
from cdtui.ui.logfile import LogFile
from cdtui.ui.logfile_search import Finder

INLINE_BYTES = 1 << 20  # more new bytes than this are read in a worker thread


class LogPane(ScrollView, can_focus=True):
    """One log, following its tail until the operator scrolls up; End follows again."""

    COMPONENT_CLASSES = {f"log-pane--{name}" for name in LineStyles._fields}
    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
        background: $surface;
        border: round $border-blurred;
        border-subtitle-color: $foreground-muted;
        &:focus { border: round $border; }
    }
    LogPane > .log-pane--match { background: $warning 50%; text-style: bold; }
    LogPane > .log-pane--current { background: $accent 25%; }
    LogPane > .log-pane--stderr { color: $text-error; }
    LogPane > .log-pane--marker { color: $accent; text-style: bold; }
    LogPane > .log-pane--timestamp { color: $foreground-muted; }
    LogPane > .log-pane--hint { color: $foreground-muted; text-style: italic; }
    """
    BINDINGS = [
        Binding("end", "follow", "Follow", tooltip="Jump to the end and follow new output"),
        Binding("home", "top", "Top", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match"),
        Binding("t", "toggle_timestamps", "Times"),
        Binding("m", "add_marker", "Marker"),
        Binding("e", "first_error", "First error"),
    ]

    following: var[bool] = var(True, init=False)
    """Keep the last line in view as output arrives; scrolling up turns it off."""
    timestamps: var[bool] = var(False, init=False)

    @dataclass
    class StatusChanged(Message):
        """Following or paused, how many lines, which match: for the app's status line."""

        pane: LogPane
        following: bool
        line_count: int
        shown: int | None  # lines the filter leaves; None without a filter
        match_index: int | None  # 1-based; None before one is selected
        match_count: int | None  # None without a search
        searching: bool

        @property
        def control(self) -> LogPane:
            return self.pane

        @property
        def text(self) -> str:
            """E.g. ``⏸ paused — End to follow · 42,310 lines · match 3/17``."""
            return log_view.status_text(*(getattr(self, f.name) for f in fields(self)[1:]))

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogPane.StatusChanged) and message.pane is self.pane

    def __init__(
        self,
        path: Path | None = None,
        title: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.state = PaneState()
        self._keep_top: int | None = None  # the line to bring back to the top once filtered
        self._styles: LineStyles | None = None
        self._base: Style | None = None  # self.rich_style, which costs ~0.1 ms to compute
        self._width = 0
        self._reading: LogFile | None = None
        self._auto = False  # a scroll made by the pane, not by the operator
        self._status: tuple[Any, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app_context = contextvars.Context()  # the app's, for callbacks from worker threads
        self._initial = (path, title)

    @property
    def path(self) -> Path | None:
        return self.state.path

    @property
    def line_count(self) -> int:
        """Lines of the file taken in so far (what the pane can show)."""
        return self.state.rows.lines

    @property
    def match_count(self) -> int:
        return len(self.state.matches())

    @property
    def match_index(self) -> int | None:
        """1-based index of the current match."""
        return None if self.state.current is None else self.state.current + 1

    def show(self, path: Path | None, title: str = "") -> None:
        """Switches to another log (None: nothing, with ``title`` as the hint)."""
        self.border_title = Content(title)
        self.state.title = title
        path = Path(path) if path is not None else None
        if path == self.state.path and (path is None or self.state.log is not None):
            return
        self.state.open(path)
        self._reading, self._keep_top, self._width = None, None, 0
        self.following = True
        self._scroll(0)
        self.refresh_from_disk()
        self._changed()

    def refresh_from_disk(self) -> None:
        """Takes in what reached the disk: one ``fstat`` when nothing did."""
        log = self.state.log
        if log is None or self._reading is log or self._loop is None:
            return
        pending = log.pending()
        if not pending:
            return
        before = (log.complete_lines, log.resets)
        if pending <= INLINE_BYTES:
            log.refresh()
            self._took_in(log, before)
            return
        self._reading = log
        self._in_thread(log.refresh, lambda _: self._took_in(log, before), "log-pane-read")

    def search(self, text: str, regex: bool = False, ignore_case: bool = True) -> None:
        """Highlights every match and counts matching lines; ``n``/``N`` move between them."""
        finder = self._finder(text, regex, ignore_case) if text else None
        if text and finder is None:
            return
        self.state.set_search(Query(text, finder) if finder is not None else None)
        self.state.anchor = self._top_line()
        self._query_changed()

    def clear_search(self) -> None:
        self.search("")

    def next_match(self) -> None:
        self._show_line(self.state.step(1, self._top_line()))

    def previous_match(self) -> None:
        self._show_line(self.state.step(-1, self._top_line()))

    def filter(
        self, text: str, invert: bool = False, regex: bool = False, ignore_case: bool = True
    ) -> None:
        """Shows only the lines that match (``invert``: that do not)."""
        finder = self._finder(text, regex, ignore_case) if text else None
        if text and finder is None:
            return
        top = self._top_line()
        self._keep_top = top if finder is not None and not self.following else None
        self.state.set_filter(Query(text, finder, invert) if finder is not None else None)
        self._query_changed()
        if finder is None and not self.following:
            self._scroll(self.state.rows.row_of(top))

    def clear_filter(self) -> None:
        self.filter("")

    def toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps

    def add_marker(self) -> None:
        """A ``──── marker HH:MM:SS ────`` row after the current last line (not in the file)."""
        if self.state.path is not None:
            self.state.rows.markers.append(Marker(self.state.rows.lines, time.time()))
            self._changed()

    def jump_to_first_error(self) -> None:
        """Moves to the first line with an error word, else the first stderr line (in a thread)."""
        log, gen = self.state.log, self.state.gen
        if log is None:
            self.notify("This stage has no log to search: it has not run.", title="First error")
        else:
            find = partial(log.first_error, stderr=False, fallback_stderr=True)
            self._in_thread(find, partial(self._found_error, gen), "log-pane-error")

    def action_follow(self) -> None:
        self.following = True
        self._scroll()

    def action_top(self) -> None:
        if self.max_scroll_y:
            self.following = False
        self.scroll_home(animate=False)

    action_next_match = next_match
    action_previous_match = previous_match
    action_toggle_timestamps = toggle_timestamps
    action_add_marker = add_marker
    action_first_error = jump_to_first_error

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return self.state.search is not None
        return True

    def on_mount(self) -> None:
        self._loop, self._app_context = asyncio.get_running_loop(), contextvars.copy_context()
        self.show(*self._initial)

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self._scroll)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and not self._auto and round(new_value) < self.max_scroll_y:
            self.following = False

    def watch_following(self, following: bool) -> None:
        if following:
            self._scroll()
        self._post_status()

    def watch_timestamps(self, timestamps: bool) -> None:
        self.state.timestamps, self._width = timestamps, 0
        self.state.forget()
        self._changed()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = self._base = None
        self.state.forget()

    def _in_thread(self, work: Callable[[], Any], then: Callable[[Any], None], group: str) -> None:
        """Runs ``work`` in a worker thread, then ``then(result)`` on the UI loop."""

        def run() -> None:
            result = None
            try:
                result = work()
            finally:
                self._call_soon(then, result)

        self.run_worker(run, thread=True, group=group, exit_on_error=False)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        """From a worker thread: ``callback`` on the UI loop, in the app's context (not the
        thread's, where ``self.app`` fails), without waiting for it."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and self.is_attached:
            with suppress(RuntimeError):  # the app is shutting down
                loop.call_soon_threadsafe(callback, *args, context=self._app_context.copy())

    def _took_in(self, log: LogFile, before: tuple[int, int]) -> None:
        if log is self.state.log:  # else the operator switched logs meanwhile
            self._reading = None
            self.state.forget(self.state.took_in(log, *before))
            self._changed()

    def _changed(self) -> None:
        self.virtual_size = Size(self._width, self.state.rows.count())
        if self.following:
            self._scroll()
        job = self.state.scan_job(lambda gen, done: self._call_soon(self._scanned, gen, done))
        if job is not None:
            self.run_worker(job, thread=True, group="log-pane-scan", exit_on_error=False)
        self.refresh()
        self._post_status()

    def watch_show_horizontal_scrollbar(self, shown: bool) -> None:
        """A line wider than the pane brings the horizontal scrollbar, one row less to show:
        scroll again once it is laid out, or the last line (often the verdict) hides under it."""
        if shown and self.following:
            self.call_after_refresh(self._scroll)

    def _query_changed(self) -> None:
        self.state.forget()
        self.refresh_bindings()
        self._changed()

    def _scanned(self, gen: int, finished: bool) -> None:
        state = self.state
        if finished:
            state.scanning = False
        if gen != state.gen:
            self._changed()  # starts the scan of the current queries
            return
        if (line := state.first_match()) is not None:
            self._show_line(line)
        self._changed()
        filt, log, top = state.rows.filter, state.log, self._keep_top
        if finished and top is not None and filt is not None and log and not filt.stale(log):
            self._scroll(state.rows.row_of(top))
            self._keep_top = None

    def _found_error(self, gen: int, line: int | None) -> None:
        if gen == self.state.gen and line is None:
            self.notify("No error or stderr line in this log.", title="First error")
        elif gen == self.state.gen:
            self.state.mark = line
            self._show_line(line)

    def _finder(self, text: str, regex: bool, ignore_case: bool) -> Finder | None:
        try:
            return Finder(text, regex, ignore_case)
        except re.error as error:
            self.notify(f"Bad pattern {text!r}: {error}", severity="error")
            return None

    def _top_line(self) -> int:
        return self.state.rows.line_at_or_after(round(self.scroll_y))

    def _show_line(self, line: int | None) -> None:
        """Scrolls ``line`` into view (a third from the top) unless it is already on screen."""
        if line is None:
            return
        self.state.forget()  # redraw the current-line highlight
        row, top = self.state.rows.row_of(line), round(self.scroll_y)
        height = self.scrollable_content_region.height
        if not top <= row < top + height:
            self.following = False
            self._scroll(max(0, row - height // 3))
        self.refresh()
        self._post_status()

    def _scroll(self, y: int | None = None) -> None:
        """A scroll by the pane (to row ``y``, or the end), which leaves ``following`` alone."""
        self._auto = True
        try:
            if y is None:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
            else:
                self.scroll_to(y=y, animate=False, immediate=True, force=True)
        finally:
            self._auto = False

    def _post_status(self) -> None:
        status = self.state.status(self.following)
        if status != self._status:
            self._status = status
            message = self.StatusChanged(self, *status)
            # No log (a stage that did not run): its title says why; "0 lines" would not.
            self.border_subtitle = Content(message.text if self.state.path else "")
            self.post_message(message)

    def _style(self) -> LineStyles:
        if self._styles is None:
            self._styles = LineStyles.of(self.get_component_rich_style)
        return self._styles

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        if self._base is None:
            self._base = self.rich_style
        width, base, rows = self.size.width, self._base, self.state.rows
        console = self.app.console
        if not rows.count():
            hint = Text(self.state.hint() if scroll_y + y == 0 else "")
            hint.stylize(self._style().hint)
            return Strip(hint.render(console)).crop_extend(0, width, base)
        item = rows.item(scroll_y + y)
        if item is None:
            return Strip.blank(width, base)
        kind, value = item
        if kind == MARKER:
            text = log_view.marker_text(rows.markers[value].at, width, self._style().marker)
            return Strip(text.render(console)).crop_extend(0, width, base)
        rendered = self.state.rendered(value, self._style(), console)
        if rendered[1] > self._width:
            self._width = rendered[1]
            self.call_later(self._changed)
        return Strip(*rendered).crop_extend(scroll_x, scroll_x + width, base)
