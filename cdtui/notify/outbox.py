"""The durable outbox: the JSONL event log, and one cursor per sink into it.

Every event is appended to the log (one ``write`` of one line, ``O_APPEND``, so processes sharing
a project never interleave) before any sink sees it; each sink's cursor records the byte offset
after the last event it delivered (or passed over) and that event's id. A crash loses nothing
that was appended: the sink starts again at its cursor (at-least-once; receivers dedupe on
``id``). One process at a time drains a sink: the cursor's ``flock`` says which.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from cdtui.notify.payload import Payload, encode
from cdtui.store.flock import let_go, try_exclusive

READ_LIMIT = 4 << 20  # bytes read per pass: an outage of 10,000 events is a few passes


class EventLog:
    """Append-only JSONL; readers take whole lines only (a torn tail waits for its newline)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def append(self, payload: Payload, encoded: bytes | None = None) -> tuple[int, int]:
        """The line's (start, end) byte offsets: with ``O_APPEND`` the write lands at the end
        and moves this descriptor's offset past it, whoever else appends. ``encoded``: the
        payload's ``encode`` when the caller has it already."""
        return self.append_lines([encode(payload) if encoded is None else encoded])

    def append_lines(self, lines: list[bytes]) -> tuple[int, int]:
        """Encoded lines (no newlines) in one ``O_APPEND`` write: the (start, end) they took."""
        self._open()
        data = b"\n".join(lines) + b"\n"
        view, fd = memoryview(data), self._fd
        assert fd is not None
        while view:  # (a regular file takes it whole; a full disk may not)
            view = view[os.write(fd, view) :]
        end = os.lseek(fd, 0, os.SEEK_CUR)
        return end - len(data), end

    def _open(self) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def count(self) -> int:
        """Whole lines (events) in the log, read in chunks: ``cdtui notify status`` says it."""
        lines = 0
        try:
            with self.path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    lines += chunk.count(b"\n")
        except FileNotFoundError:
            pass
        return lines

    def read(self, offset: int, limit: int = READ_LIMIT) -> list[tuple[int, Payload]]:
        """(end offset, payload) of each whole line from ``offset``; undecodable lines skipped."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(limit)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) >= limit:  # one line longer than a pass: skip it
            return [(offset + len(data), {"kind": "_skipped"})]
        entries: list[tuple[int, Payload]] = []
        position = offset
        for line in data[:end].splitlines(keepends=True):
            position += len(line)
            with contextlib.suppress(ValueError):
                payload = json.loads(line)
                if isinstance(payload, dict) and "kind" in payload:
                    entries.append((position, payload))
        return entries

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Cursor:
    """Where one sink is in the log, saved by rename (a crash keeps the old or the new)."""

    def __init__(self, directory: Path, sink: str) -> None:
        self.path = directory / f"{sink}.cursor"
        self._lock_path = directory / f"{sink}.lock"
        self._lock_fd: int | None = None

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("offset"), int) else None

    def save(self, offset: int, last_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"offset": offset, "id": last_id}))
        os.replace(tmp, self.path)

    def start_at(self, log_size: int) -> int:
        """The saved offset; a new sink starts at the log's end (no flood of old history), a
        log that shrank (replaced by hand) from its start."""
        saved = self.load()
        if saved is None:
            self.save(log_size, "")
            return log_size
        return saved["offset"] if saved["offset"] <= log_size else 0

    def try_lock(self) -> bool:
        """True when this process now drains the sink; False while another process does."""
        if self._lock_fd is None:
            self._lock_fd = try_exclusive(self._lock_path)
        return self._lock_fd is not None

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def unlock(self) -> None:
        let_go(self._lock_fd)
        self._lock_fd = None
