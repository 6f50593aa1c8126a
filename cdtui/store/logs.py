"""Per-attempt log files written as output arrives, plus a binary index for seeking.

``logs/<run>/<phase-slug>/<stage-slug>.<attempt>.log`` holds stdout and stderr merged in arrival
order as raw UTF-8. Beside it, ``.idx`` holds one fixed-size little-endian record per chunk:
``(offset: u64, at: f64, stream: u8)`` with stream 0 = stdout, 1 = stderr; a chunk ends where the
next begins (or at end of file). A viewer can thus show per-line times and stderr ranges and seek
by offset without parsing the text (the toolong approach).

Output is never in SQL: it is buffered in the process and flushed at most every ``FLUSH_INTERVAL``
(or when idle, via the running loop) so a ``--follow`` in another process sees it promptly while
a million-line burst costs one buffered write per chunk.
"""

from __future__ import annotations

import asyncio
import functools
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FLUSH_INTERVAL = 0.1
INDEX_RECORD = struct.Struct("<QdB")
STDOUT, STDERR = 0, 1
_LOG_BUFFER = 1 << 16
_SLUG_JUNK = re.compile(r"[^a-z0-9._]+")

AttemptKey = tuple[int, str, str, int]  # run_id, phase, stage, attempt


@functools.lru_cache(maxsize=4096)  # a few per stage, of the same few names: each stage's files
def slug(name: str) -> str:
    """A file-name-safe form of a phase or stage name: ``Load & Perf`` -> ``load-perf``."""
    return _SLUG_JUNK.sub("-", name.lower()).strip("-.") or "_"


@functools.lru_cache(maxsize=256)
def _phase_dir(logs_dir: Path, run_id: int, phase: str) -> Path:
    return logs_dir / str(run_id) / slug(phase)


def log_path(logs_dir: Path, run_id: int, phase: str, stage: str, attempt: int) -> Path:
    return _phase_dir(logs_dir, run_id, phase) / f"{slug(stage)}.{attempt}.log"


def index_path(log: Path) -> Path:
    return log.with_suffix(".idx")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    offset: int
    at: float
    stream: int  # STDOUT or STDERR


def iter_index(idx: Path, start: int = 0) -> Iterator[IndexEntry]:
    """Index records from record number ``start``; a torn last record (crash) is skipped."""
    try:
        with idx.open("rb") as fh:
            fh.seek(start * INDEX_RECORD.size)
            data = fh.read()
    except FileNotFoundError:
        return
    usable = len(data) - len(data) % INDEX_RECORD.size
    for offset, at, stream in INDEX_RECORD.iter_unpack(data[:usable]):
        yield IndexEntry(offset, at, stream)


def read_index(idx: Path) -> list[IndexEntry]:
    return list(iter_index(idx))


def _encode(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates from a lenient decoder: keep the line anyway
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")


class LogWriter:
    """One attempt's log and index, opened for appending at the first output.

    An attempt that prints nothing (most matrix legs, ``true``) creates no files: creating
    two costs more than the rest of the stage's bookkeeping on some filesystems (ext4 here:
    ~0.1-0.25 ms each), and every reader already takes a missing log for an empty one.
    """

    __slots__ = ("_idx", "_log", "offset", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log: BinaryIO | None = None
        self._idx: BinaryIO | None = None
        self.offset = 0

    def _open(self) -> tuple[BinaryIO, BinaryIO]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.path.open("ab", buffering=_LOG_BUFFER)
        self._idx = index_path(self.path).open("ab")
        self.offset = self._log.tell()
        return self._log, self._idx

    def write(self, at: float, stream: int, text: str) -> None:
        data = _encode(text)
        log, idx = (self._log, self._idx) if self._log is not None else self._open()
        assert idx is not None
        log.write(data)
        idx.write(INDEX_RECORD.pack(self.offset, at, stream))
        self.offset += len(data)

    def flush(self) -> None:
        if self._log is None or self._idx is None:
            return
        # Log first: the index then never points past bytes a reader can see.
        self._log.flush()
        self._idx.flush()

    def close(self) -> None:
        if self._log is None or self._idx is None:
            return
        self.flush()
        self._log.close()
        self._idx.close()


class LogBook:
    """The open writers of this process, with the flush policy shared by all of them."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self._writers: dict[AttemptKey, LogWriter] = {}
        self._dirty = False
        self._deadline: float | None = None  # used only when no event loop runs

    def open(self, key: AttemptKey) -> LogWriter:
        writer = self._writers.get(key)
        if writer is None:
            writer = self._writers[key] = LogWriter(log_path(self.logs_dir, *key))
        return writer

    def write(self, key: AttemptKey, at: float, stream: str, text: str) -> None:
        writer = self._writers.get(key) or self.open(key)
        writer.write(at, STDERR if stream == "stderr" else STDOUT, text)
        if not self._dirty:
            self._dirty = True
            self._schedule_flush()
        elif self._deadline is not None and time.monotonic() >= self._deadline:
            self.flush()

    def _schedule_flush(self) -> None:
        try:
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.flush)
        except RuntimeError:
            self._deadline = time.monotonic() + FLUSH_INTERVAL

    def flush(self) -> None:
        if not self._dirty:
            return
        for writer in tuple(self._writers.values()):
            writer.flush()
        self._dirty = False
        self._deadline = None

    def close_attempt(self, key: AttemptKey) -> None:
        writer = self._writers.pop(key, None)
        if writer is not None:
            writer.close()

    def close_run(self, run_id: int) -> None:
        for key in [k for k in self._writers if k[0] == run_id]:
            self.close_attempt(key)

    def close(self) -> None:
        self.flush()
        for key in list(self._writers):
            self.close_attempt(key)
