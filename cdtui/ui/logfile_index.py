"""Reads a log's ``.idx`` sidecar (one record per written chunk) without loading it whole.

A stage that writes one line per chunk makes 17 bytes of index per line: 170 MB for ten million
lines. So only every ``SAMPLE``-th record's offset stays in memory; a lookup reads one window of
``SAMPLE`` records (4 KiB) with ``os.pread`` and keeps a few recent windows.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from pathlib import Path

from cdtui.store.logs import INDEX_RECORD

SAMPLE = 256
_WINDOWS = 16
_READ = INDEX_RECORD.size * 65536
_RECORD = INDEX_RECORD.size


class ChunkIndex:
    """Chunk metadata (time, stream) by byte offset of the log; tolerates a missing or torn file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._records = 0
        self._samples = array("Q")
        self._windows: OrderedDict[int, tuple[list[int], list[float], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def records(self) -> int:
        return self._records

    @property
    def samples(self) -> array:
        """The in-memory part: one offset per ``SAMPLE`` records."""
        return self._samples

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return None
        return self._fd

    def refresh(self) -> int | None:
        """Takes in records written since the last call; returns the first one's log offset."""
        fd = self._open()
        if fd is None:
            return None
        size = os.fstat(fd).st_size
        total = size // _RECORD
        if total < self._records:  # rewritten from scratch
            with self._lock:
                self._records = 0
                self._samples = array("Q")
                self._windows.clear()
        first_offset: int | None = None
        while self._records < total:
            count = min(total - self._records, _READ // _RECORD)
            data = os.pread(fd, count * _RECORD, self._records * _RECORD)
            count = len(data) // _RECORD
            if not count:
                break
            if first_offset is None:
                first_offset = INDEX_RECORD.unpack_from(data)[0]
            first = -self._records % SAMPLE
            picked = [
                INDEX_RECORD.unpack_from(data, i * _RECORD)[0] for i in range(first, count, SAMPLE)
            ]
            with self._lock:
                self._samples.extend(picked)
                self._records += count
        return first_offset

    def lookup(self, offset: int) -> tuple[float, int] | None:
        """(time, stream) of the chunk holding byte ``offset``, or None if no chunk is known."""
        window = bisect_right(self._samples, offset) - 1
        if window < 0:
            return None
        offsets, times, streams = self._window(window)
        i = bisect_right(offsets, offset) - 1
        return (times[i], streams[i]) if i >= 0 else None

    def _window(self, window: int) -> tuple[list[int], list[float], bytes]:
        records = self._records
        first = window * SAMPLE
        count = min(SAMPLE, records - first)
        cached = self._windows.get(window)
        if cached is not None and len(cached[0]) == count:
            self._windows.move_to_end(window)
            return cached
        fd = self._open()
        data = os.pread(fd, count * _RECORD, first * _RECORD) if fd is not None else b""
        rows = list(INDEX_RECORD.iter_unpack(data[: len(data) - len(data) % _RECORD]))
        entry = ([r[0] for r in rows], [r[1] for r in rows], bytes(r[2] for r in rows))
        with self._lock:
            self._windows[window] = entry
            while len(self._windows) > _WINDOWS:
                self._windows.popitem(last=False)
        return entry

    def first_offset_of_stream(self, stream: int) -> int | None:
        """Byte offset where the first chunk of ``stream`` begins (scans the stream bytes in C)."""
        fd = self._open()
        if fd is None:
            return None
        wanted = bytes([stream])
        done = 0
        while done < self._records:
            count = min(self._records - done, _READ // _RECORD)
            data = os.pread(fd, count * _RECORD, done * _RECORD)
            found = data[_RECORD - 1 :: _RECORD].find(wanted)
            if found >= 0:
                return INDEX_RECORD.unpack_from(data, found * _RECORD)[0]
            done += count
        return None
