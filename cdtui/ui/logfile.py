"""A growing log file read by line number, in bounded memory (UI-free, thread-safe).

A 10,000,000-line log must not cost one offset per line, so only the byte offset of every
``STEP``-th line is kept (``array('Q')``, 8 bytes per 1024 lines); a line is found by reading its
block of ``STEP`` lines with ``os.pread`` and decoding it, and a few decoded blocks stay in an LRU
cache. New bytes are scanned in big chunks with ``bytes.count`` (C speed), never line by line.
"""

from __future__ import annotations

import os
import re
import threading
import time
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path

from cdtui.store.logs import STDERR, index_path
from cdtui.ui.logfile_index import ChunkIndex
from cdtui.ui.logfile_search import Finder, PatternFinder, error_finder, matching_lines

STEP = 1024
CHUNK = 1 << 18  # bytes read (and scanned in C, holding the GIL) at a time
BLOCK_READ_MAX = 8 << 20  # bigger blocks (very long lines) are read piecewise, lines capped
LINE_CAP = 64 << 10
CACHE_BLOCKS = 24
CACHE_CHARS = 16 << 20
SPAN_BYTES = 1 << 18  # a search reads whole blocks, about this much at a time
_NEWLINE = re.compile(b"\n")
_MAIN_THREAD = threading.main_thread()


def yield_to_ui() -> None:
    """Between chunks, a worker thread hands the GIL to the UI thread if it waits for it.

    Otherwise each wait of the UI loop (one per ``select``) lasts the switch interval, 5 ms.
    """
    if threading.current_thread() is not _MAIN_THREAD:
        time.sleep(0)


def _decode(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "replace")


@dataclass(slots=True)
class _Block:
    lines: list[str]
    offsets: array  # byte offset where each line starts
    end: int  # byte offset the block was read up to: a shorter read is stale


class LogFile:
    """Incremental line index over ``path``; the file may not exist yet and may still grow."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.chunks = ChunkIndex(index_path(self.path))
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.resets = 0  # times the file was truncated and read again from the start
        self.new_meta_offset: int | None = None  # lines from here on got (time, stream) news
        self._reset()

    def _reset(self) -> None:
        self._scanned = 0  # bytes taken into the index
        self._complete = 0  # newlines seen = complete lines
        self._tail_start = 0  # where the last (maybe partial) line begins
        self._checkpoints = array("Q", [0])  # offset of line k * STEP
        self._cache: OrderedDict[int, _Block] = OrderedDict()
        self._cache_chars = 0

    # -- growth --------------------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Complete lines plus a trailing partial line, if any."""
        return self._complete + (self._scanned > self._tail_start)

    @property
    def complete_lines(self) -> int:
        return self._complete

    def snapshot(self) -> tuple[int, int, int]:
        """(size, complete lines, line count), consistent with each other."""
        with self._lock:
            return self._scanned, self._complete, self.line_count

    @property
    def size(self) -> int:
        """Bytes read so far: a change with an unchanged line count means the last line grew."""
        return self._scanned

    @property
    def sparse_index(self) -> array:
        return self._checkpoints

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return None
        return self._fd

    def pending(self) -> int:
        """Bytes on disk not yet read (one ``fstat``): the cheap "did anything change?" check."""
        fd = self._open()
        if fd is None:
            return 0
        size = os.fstat(fd).st_size
        return size - self._scanned if size >= self._scanned else size + 1

    def refresh(self, max_bytes: int | None = None) -> int:
        """Reads bytes written since the last call; returns how many lines were added.

        A truncated file is read again from the start (``resets`` counts those).
        """
        fd = self._open()
        if fd is None:
            return 0
        before = self.line_count
        size = os.fstat(fd).st_size
        if size < self._scanned:
            with self._lock:
                self._reset()
            self.resets += 1
        if max_bytes is not None:
            size = min(size, self._scanned + max_bytes)
        while self._scanned < size:
            data = os.pread(fd, min(CHUNK, size - self._scanned), self._scanned)
            if not data:
                break
            self._take(data)
            yield_to_ui()
        self.new_meta_offset = self.chunks.refresh()
        return self.line_count - before

    def _take(self, data: bytes) -> None:
        base = self._scanned
        newlines = data.count(b"\n")
        picked: list[int] = []
        tail = self._tail_start
        if newlines:
            seen, pos = self._complete, 0  # newlines before ``pos``
            wanted = len(self._checkpoints) * STEP  # that line starts after newline number wanted
            while self._complete + newlines >= wanted:
                found = islice(_NEWLINE.finditer(data, pos), wanted - seen - 1, None)
                pos = next(found).end()
                picked.append(base + pos)
                seen, wanted = wanted, wanted + STEP
            tail = base + data.rfind(b"\n") + 1
        with self._lock:
            self._checkpoints.extend(picked)
            self._complete += newlines
            self._tail_start = tail
            self._scanned = base + len(data)

    def close(self) -> None:
        """Closes the file now; dropping the last reference does the same (workers may hold one)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.chunks.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.close()

    # -- lines ---------------------------------------------------------------------------------

    def _span(self, block: int) -> tuple[int, int, int]:
        """(start, end, line count) of a block, read consistently with a concurrent refresh."""
        with self._lock:
            cps = self._checkpoints
            start = cps[block]
            end = cps[block + 1] if block + 1 < len(cps) else self._scanned
            lines = min(STEP, self.line_count - block * STEP)
        return start, end, lines

    def _block(self, block: int, cache: bool = True) -> _Block:
        start, end, count = self._span(block)
        with self._lock:
            hit = self._cache.get(block)
            if hit is not None and hit.end == end:
                self._cache.move_to_end(block)
                return hit
        fd = self._open()
        if fd is None or end <= start:
            return _Block([], array("Q"), end)
        if end - start > BLOCK_READ_MAX:
            lines, offsets = self._read_capped(fd, start, end)
        else:
            data = os.pread(fd, end - start, start)
            parts = data.split(b"\n")
            lines = _decode(data).split("\n")
            offsets = array("Q", accumulate((len(p) + 1 for p in parts[:-1]), initial=start))
            if b"\r" in data:
                lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        del lines[count:]
        del offsets[count:]
        result = _Block(lines, offsets, end)
        if cache:
            with self._lock:
                old = self._cache.pop(block, None)
                self._cache_chars -= sum(map(len, old.lines)) if old else 0
                self._cache[block] = result
                self._cache_chars += sum(map(len, lines))
                while len(self._cache) > CACHE_BLOCKS or (
                    self._cache_chars > CACHE_CHARS and len(self._cache) > 1
                ):
                    _, gone = self._cache.popitem(last=False)
                    self._cache_chars -= sum(map(len, gone.lines))
        return result

    @staticmethod
    def _read_capped(fd: int, start: int, end: int) -> tuple[list[str], array]:
        """Lines of a huge block, each cut at ``LINE_CAP`` bytes, read 1 MiB at a time."""
        lines: list[str] = []
        offsets = array("Q")
        current = bytearray()
        cut = False
        line_start = pos = start
        while pos < end:
            data = os.pread(fd, min(CHUNK, end - pos), pos)
            if not data:
                break
            i = 0
            while True:
                j = data.find(b"\n", i)
                stop = len(data) if j < 0 else j
                room = LINE_CAP - len(current)
                current += data[i : min(stop, i + max(room, 0))]
                cut = cut or stop - i > room
                if j < 0:
                    break
                lines.append(_decode(current) + ("…" if cut else ""))
                offsets.append(line_start)
                current.clear()
                cut = False
                i, line_start = j + 1, pos + j + 1
            pos += len(data)
        if pos > line_start:
            lines.append(_decode(current) + ("…" if cut else ""))
            offsets.append(line_start)
        return lines, offsets

    def line(self, n: int) -> str:
        if not 0 <= n < self.line_count:
            raise IndexError(n)
        return self._block(n // STEP).lines[n % STEP]

    def lines(self, start: int, count: int) -> list[str]:
        start = max(0, start)
        stop = min(self.line_count, start + count)
        out: list[str] = []
        while start < stop:
            block = self._block(start // STEP)
            first = start % STEP
            take = block.lines[first : first + stop - start]
            if not take:
                break
            out.extend(take)
            start += len(take)
        return out

    def tail(self, count: int) -> list[str]:
        return self.lines(self.line_count - count, count)

    def line_offset(self, n: int) -> int:
        return self._block(n // STEP).offsets[n % STEP]

    def line_at_offset(self, offset: int) -> int:
        """The line holding byte ``offset`` (the last line for an offset past the end)."""
        block = max(0, bisect_right(self._checkpoints, offset) - 1)
        offsets = self._block(block).offsets
        return block * STEP + max(0, bisect_right(offsets, offset) - 1)

    def line_meta(self, n: int) -> tuple[float | None, int]:
        """(unix time, stream) of the chunk where line ``n`` begins; (None, 0) without an index."""
        meta = self.chunks.lookup(self.line_offset(n))
        return meta if meta is not None else (None, 0)

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        pattern: str | re.Pattern[str] | Finder,
        regex: bool = False,
        ignore_case: bool = True,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[int]:
        """Numbers of lines (``start`` to ``stop``) whose visible text matches, in order.

        Reads about a MiB at a time past the cache, so scanning a huge file neither holds it in
        memory nor evicts the blocks on screen. Raises ``re.error`` for a bad expression.
        """
        if isinstance(pattern, str):
            pattern = Finder(pattern, regex, ignore_case)
        elif isinstance(pattern, re.Pattern):
            pattern = PatternFinder(pattern)
        return self._search(pattern, max(0, start), stop)

    def _search(self, finder: Finder, start: int, stop: int | None) -> Iterator[int]:
        stop = self.line_count if stop is None else min(stop, self.line_count)
        for first, span in self._spans(start, stop):
            yield from matching_lines(finder, span, first, start, stop)

    def _spans(self, start: int, stop: int) -> Iterator[tuple[int, str]]:
        """(first line, text) of whole blocks covering lines ``start`` to ``stop``."""
        block, last = start // STEP, (stop - 1) // STEP
        while block <= last:
            begin, _, _ = self._span(block)
            end_block = block
            while end_block < last and self._span(end_block)[1] - begin < SPAN_BYTES:
                end_block += 1
            end = self._span(end_block)[1]
            fd = self._open()
            if fd is None:
                return
            if end - begin > BLOCK_READ_MAX:  # a very long line: capped lines, block by block
                end_block = block
                yield block * STEP, "\n".join(self._block(block, cache=False).lines)
            else:
                data = os.pread(fd, end - begin, begin)
                yield block * STEP, _decode(data)
            yield_to_ui()
            block = end_block + 1

    def first_stderr(self) -> int | None:
        self.chunks.refresh()
        offset = self.chunks.first_offset_of_stream(STDERR)
        if offset is None or offset >= self._scanned:
            return None
        return self.line_at_offset(offset)

    def first_error(
        self, stderr: bool = True, pattern: bool = True, fallback_stderr: bool = False
    ) -> int | None:
        """The first line on stderr and/or with an error word, whichever comes first;
        ``fallback_stderr``: the first with an error word, else the first on stderr."""
        if fallback_stderr:
            line = self.first_error(stderr=False, pattern=pattern)
            return self.first_stderr() if line is None else line
        found = []
        if stderr and (line := self.first_stderr()) is not None:
            found.append(line)
        if pattern:
            stop = min(found) if found else None
            found.extend(islice(self._search(error_finder(), 0, stop), 1))
        return min(found) if found else None
