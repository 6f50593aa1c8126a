"""What a log pane shows, without the widget: filter and search results, rows, line text.

Kept apart from ``widgets/log_pane.py`` so the scanning (which runs in a worker thread), the row
arithmetic and the styling of a line are plain Python and rich, testable without an app. A row is
a line of the file (or of the filtered list) or a marker the operator added, kept only here.
"""

from __future__ import annotations

import re
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from cdtui.store.logs import STDERR
from cdtui.textsafe import safe_line
from cdtui.ui.logfile import LogFile
from cdtui.ui.logfile_search import Finder

LINE, MARKER = 0, 1
RENDERED_LINES = 160  # a few screens' worth
MAX_RENDER_CHARS = 4096


@dataclass
class Query:
    """A search or filter: the numbers of the lines that match (or, inverted, do not).

    4 bytes per listed line. ``done`` complete lines are final; a trailing partial line is
    scanned again when it grows, so a line is listed once it is complete.
    """

    text: str
    finder: Finder
    invert: bool = False
    lines: array = field(default_factory=lambda: array("I"))
    done: int = 0
    size: int = -1  # log size when last scanned; -1: never

    def stale(self, log: LogFile) -> bool:
        return self.size != log.size

    def extend(
        self,
        log: LogFile,
        alive: Callable[[], bool],
        progress: Callable[[], None],
        piece: int = 1 << 16,
    ) -> bool:
        """Scans what was added to ``log`` since the last call; False if ``alive()`` turned false.

        Works ``piece`` lines at a time so a scan that finds nothing still notices it is stale.
        """
        size, complete, count = log.snapshot()
        del self.lines[bisect_left(self.lines, self.done) :]
        start, noted = self.done, time.monotonic()
        while start < count:
            stop = min(start + piece, count)
            found = log.search(self.finder, start=start, stop=stop)
            if self.invert:
                for line in found:
                    self.lines.extend(range(start, line))
                    start = line + 1
                self.lines.extend(range(start, stop))
            else:
                self.lines.extend(found)
            self.done, start = min(stop, complete), stop
            if not alive():
                return False
            if time.monotonic() - noted > 0.05:
                progress()
                noted = time.monotonic()
        self.size = size
        return True


@dataclass(frozen=True, slots=True)
class Marker:
    before: int  # the marker shows before this line (the line count when it was added)
    at: float


class Rows:
    """Maps rows on screen to lines of the file (through the filter) and markers."""

    def __init__(self) -> None:
        self.lines = 0  # lines of the file, as of the last refresh the pane took in
        self.filter: Query | None = None
        self.markers: list[Marker] = []

    def base_count(self) -> int:
        return len(self.filter.lines) if self.filter is not None else self.lines

    def _base_of_line(self, line: int) -> int:
        if self.filter is None:
            return min(line, self.lines)
        return bisect_left(self.filter.lines, line)

    def _marker_rows(self) -> list[int]:
        return [self._base_of_line(m.before) + i for i, m in enumerate(self.markers)]

    def count(self) -> int:
        return self.base_count() + len(self.markers)

    def item(self, row: int) -> tuple[int, int] | None:
        """(LINE, line number) or (MARKER, marker index) at ``row``; None past the end."""
        marker_rows = self._marker_rows()
        before = bisect_left(marker_rows, row)
        if before < len(marker_rows) and marker_rows[before] == row:
            return MARKER, before
        base = row - before
        if not 0 <= base < self.base_count():
            return None
        if self.filter is None:
            return LINE, base
        lines = self.filter.lines
        return (LINE, lines[base]) if base < len(lines) else None

    def line_at_or_after(self, row: int) -> int:
        """The first line shown at ``row`` or below (the line count if none)."""
        for at in range(row, self.count()):
            item = self.item(at)
            if item is not None and item[0] == LINE:
                return item[1]
        return self.lines

    def row_of(self, line: int) -> int:
        """The row of ``line``, or of the next shown line if the filter hides it."""
        base = self._base_of_line(line)
        return base + bisect_right([self._base_of_line(m.before) for m in self.markers], base)


class PaneState:
    """Everything a log pane knows besides cells: the log, its rows, the search and its match.

    The widget owns the timer, the workers and the scrolling; this stays plain Python.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.log: LogFile | None = None
        self.rows = Rows()
        self.search: Query | None = None
        self.current: int | None = None  # index into the search's lines
        self.mark: int | None = None  # the line drawn as current (a match, the first error)
        self.anchor = 0  # a new search selects its first match at or after this line
        self.gen = 0  # bumped when the log or a query changes: a stale worker stops
        self.scanning = False
        self.timestamps = False
        self.title = ""  # the hint when no log is shown
        self._markers: dict[Path, list[Marker]] = {}
        self._queries: dict[Path, tuple[Query | None, Query | None]] = {}  # (filter, search)
        self._shown: tuple[tuple[Any, ...], array] = ((), array("I"))
        # Rendered lines as segments, not Strips: a Strip carries seven caches, and every object
        # kept here is one more for each full garbage collection to scan (the lag spikes).
        self._rendered: OrderedDict[int, tuple[list[Segment], int]] = OrderedDict()

    def open(self, path: Path | None) -> None:
        """Switches logs. Search, filter and markers are each log's own: another stage's log
        opens as it was left (its queries scanned again), never with this one's
        ``0 shown · match 3/3``."""
        if self.path is not None:
            self._queries[self.path] = (self.rows.filter, self.search)
        self.gen += 1
        self.path, self.log = path, LogFile(path) if path is not None else None
        self.rows = Rows()
        self.rows.markers = self._markers.setdefault(path, []) if path is not None else []
        filt, search = self._queries.get(path, (None, None)) if path is not None else (None, None)
        self.rows.filter = None if filt is None else Query(filt.text, filt.finder, filt.invert)
        self.search = None if search is None else Query(search.text, search.finder)
        self.current = self.mark = None
        self._shown = ((), array("I"))
        self.forget()

    def took_in(self, log: LogFile, complete: int, resets: int) -> int:
        """Rows after ``log.refresh()``; returns the first line whose drawing may be stale."""
        if log.resets != resets:  # truncated and read again
            complete = 0
            for query in self.queries():
                query.lines, query.done, query.size = array("I"), 0, -1
        elif log.new_meta_offset is not None:
            complete = min(complete, log.line_at_offset(log.new_meta_offset))
        self.rows.lines = log.line_count
        return complete

    def queries(self) -> list[Query]:
        return [q for q in (self.rows.filter, self.search) if q is not None]

    def set_search(self, search: Query | None) -> None:
        self.gen += 1
        self.search, self.current, self.mark = search, None, None

    def set_filter(self, query: Query | None) -> None:
        self.gen += 1
        self.rows.filter = query
        self.current = None  # an index into the matches the filter shows, which changed

    def scan_job(self, notify: Callable[[int, bool], None]) -> Callable[[], None] | None:
        """The thread body extending stale queries, or None when all are current."""
        log, gen = self.log, self.gen
        queries = [q for q in self.queries() if log is not None and q.stale(log)]
        if self.scanning or log is None or not queries:
            return None
        self.scanning = True

        def scan() -> None:
            try:
                for query in queries:
                    if not query.extend(log, lambda: gen == self.gen, lambda: notify(gen, False)):
                        break
            finally:
                notify(gen, True)

        return scan

    def matches(self) -> array:
        """The search's matching lines the filter shows: what ``n``/``N`` visit and the count
        says (a match on a line the filter hides is not one the operator can see)."""
        search, filt = self.search, self.rows.filter
        if search is None:
            return array("I")
        if filt is None:
            return search.lines
        key = (id(search), len(search.lines), id(filt), len(filt.lines))
        if self._shown[0] != key:
            shown = filt.lines
            kept = array("I")
            for line in search.lines:
                at = bisect_left(shown, line)
                if at < len(shown) and shown[at] == line:
                    kept.append(line)
            self._shown = (key, kept)
        return self._shown[1]

    def first_match(self) -> int | None:
        """Selects the first match at or after the anchor once known; returns its line."""
        search, log, lines = self.search, self.log, self.matches()
        if search is None or self.current is not None or not lines or log is None:
            return None
        at = bisect_left(lines, self.anchor)
        if at == len(lines) and search.stale(log):
            return None  # still scanning towards the anchor
        return self.select(min(at, len(lines) - 1))

    def step(self, step: int, top_line: int) -> int | None:
        lines = self.matches()
        if not lines:
            return None
        if self.current is None:
            at = bisect_left(lines, top_line)
            return self.select(at if step > 0 else at - 1)
        return self.select(self.current + step)

    def select(self, index: int) -> int:
        lines = self.matches()
        self.current = index % len(lines)
        self.mark = lines[self.current]
        return self.mark

    def hint(self) -> str:
        """What an empty pane says."""
        if self.path is None:
            return self.title
        if self.rows.filter is not None and self.rows.lines:
            return "filtering…" if self.scanning else "no line matches the filter"
        return "waiting for output…"

    def rendered(self, n: int, styles: LineStyles, console: Console) -> tuple[list[Segment], int]:
        """Line ``n`` as segments and its width in cells, from a small LRU cache."""
        hit = self._rendered.get(n)
        if hit is not None:
            self._rendered.move_to_end(n)
            return hit
        log, search = self.log, self.search
        text = Text("")
        if log is not None and n < log.line_count:
            when, stream = log.line_meta(n)
            text = line_text(
                log.line(n),
                styles,
                stderr=stream == STDERR,
                pattern=search.finder.pattern if search is not None else None,
                current=n == self.mark,
                when=when if self.timestamps else False,
            )
        hit = self._rendered[n] = (list(text.render(console)), text.cell_len)
        if len(self._rendered) > RENDERED_LINES:
            self._rendered.popitem(last=False)
        return hit

    def forget(self, first_line: int = 0) -> None:
        """Drops rendered lines from ``first_line`` on (they changed, or how they look did)."""
        if first_line <= 0:
            self._rendered.clear()
            return
        for line in [n for n in self._rendered if n >= first_line]:
            del self._rendered[line]

    def status(self, following: bool) -> tuple[Any, ...]:
        search, filt = self.search, self.rows.filter
        return (
            following,
            self.rows.lines,
            None if filt is None else len(filt.lines),
            None if self.current is None else self.current + 1,
            None if search is None else len(self.matches()),
            self.scanning,
        )


def clock(at: float | None) -> str:
    """``HH:MM:SS.mmm`` local time, or blanks of the same width when unknown."""
    if at is None:
        return " " * 12
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


class LineStyles(NamedTuple):
    """The pane's component styles (``log-pane--<field>``), from the app theme."""

    match: Style
    current: Style
    stderr: Style
    marker: Style
    timestamp: Style
    hint: Style

    @classmethod
    def of(cls, get: Callable[..., Style]) -> LineStyles:
        """From a widget's ``get_component_rich_style``."""
        return cls(*(get(f"log-pane--{name}", partial=True) for name in cls._fields))


def line_text(
    raw: str,
    styles: LineStyles,
    *,
    stderr: bool = False,
    pattern: re.Pattern[str] | None = None,
    current: bool = False,
    when: float | bool | None = False,
) -> Text:
    """One log line as the operator sees it (``cdtui.textsafe``): SGR colours kept, other
    controls shown as visible escapes, carriage returns resolved to the line's last state;
    ``when=False`` means no timestamp column."""
    raw = safe_line(raw, MAX_RENDER_CHARS)
    text = Text.from_ansi(raw, end="") if "\x1b" in raw else Text(raw, end="")
    if "\t" in raw:
        text.expand_tabs()
    if stderr:
        text.stylize_before(styles.stderr)
    if pattern is not None:
        for match in pattern.finditer(text.plain):
            if match.end() > match.start():
                text.stylize(styles.match, match.start(), match.end())
    if current:
        text.stylize_before(styles.current)
    if when is not False:
        text = Text.assemble((clock(when) + " ", styles.timestamp), text, end="")
    return text


def marker_text(at: float, width: int, style: Style) -> Text:
    label = f"──── marker {clock(at)[:8]} "
    return Text(label.ljust(max(width, len(label) + 4), "─"), style=style, end="")


def status_text(
    following: bool,
    lines: int,
    shown: int | None,
    match_index: int | None,
    match_count: int | None,
    searching: bool,
) -> str:
    parts = ["following" if following else "⏸ paused — End to follow", f"{lines:,} lines"]
    if shown is not None:
        parts.append(f"{shown:,} shown")
    if match_count is not None:
        parts.append(f"match {match_index or '-'}/{match_count:,}{'…' if searching else ''}")
    return " · ".join(parts)
