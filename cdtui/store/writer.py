"""One writer thread per runs.db in a process: state rows are queued, written in order, and
never make the caller wait for the write lock.

Why: the engine runs on the console's asyncio loop. When another process (``cdtui release`` in
a shell) holds runs.db's write lock, a commit made on the loop waited up to the busy timeout
and froze the console. Here the caller only appends to a queue; the thread waits for the lock.

What is kept:
- order: one thread, one FIFO queue, shared by every RunStore of the same file in the process;
- nothing is lost silently: a locked database is retried until it is free (and said, once,
  when it lasts); any other failure is reported (log line + listeners) with what was lost;
- flushed on exit: ``close`` and an atexit hook wait for the queue (bounded by CLOSE_WAIT_S,
  after which what is still queued is reported lost, not hung on forever);
- read-your-writes: ``settle`` waits until the queue is written unless the thread is waiting
  for another process's lock, so a read never blocks on that lock.

A crash of the process (SIGKILL) loses what is still queued: normally a few milliseconds of
rows (the thread lingers ``LINGER_S`` after the first row of a burst, unless someone waits).
The rows that are the crash-safety guarantee stay synchronous: ``begin_run`` (``call``:
committed before the run starts) and the release intent/applied rows (store/releases.py).
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdtui.store.db import BUSY_TIMEOUT_S, RunDB

log = logging.getLogger("cdtui.store")

LINGER_S = 0.005  # rows come in bursts (a stage's start, its end): one wake-up takes a burst
LOCK_SLICE_S = 0.02  # busy timeout of one try: the thread says it is stalled after this
RETRY_S = 0.02
CLOSE_WAIT_S = 60.0
Write = Callable[[RunDB], Any]
Listener = Callable[[str], None]


@dataclass(slots=True)
class _Op:
    write: Write
    what: str
    result: Future | None = None


@dataclass(slots=True)
class _Stall:
    since: float = 0.0
    told: bool = False
    ops: list[str] = field(default_factory=list)


class Writer:
    """The queue and the thread for one runs.db; get one with ``acquire``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = RunDB(path, timeout=LOCK_SLICE_S)
        self._queue: deque[_Op] = deque()
        self._cond = threading.Condition()
        self._stalled = False
        self._hurry = False  # someone waits for the queue: write now, do not linger
        self._abandon = False
        self._closing = False
        self.users = 0
        self.listeners: list[Listener] = []
        self.lost: list[str] = []  # what could not be written, said when it happened
        self._thread = threading.Thread(target=self._run, name="cdtui-store-writer", daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------------

    def submit(self, write: Write, what: str) -> None:
        """Queue a write; returns at once."""
        self._put(_Op(write, what))

    def call(self, write: Write, what: str) -> Any:
        """Queue a write and wait for it (after everything queued before it); raises its error."""
        op = _Op(write, what, Future())
        self._put(op, hurry=True)
        assert op.result is not None
        return op.result.result()

    def settle(self) -> None:
        """Wait until queued writes are done, unless the thread waits for another's lock."""
        if threading.current_thread() is self._thread:
            return
        with self._cond:
            self._hurry_locked()
            self._cond.wait_for(lambda: not self._queue or self._stalled)

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until every queued write is done, lock or not; False on timeout."""
        with self._cond:
            self._hurry_locked()
            return self._cond.wait_for(lambda: not self._queue, timeout)

    def _hurry_locked(self) -> None:
        if self._queue and not self._hurry:
            self._hurry = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def _put(self, op: _Op, hurry: bool = False) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self.path}: the store writer is closed")
            self._queue.append(op)
            if hurry:
                self._hurry_locked()
            elif len(self._queue) == 1:  # else the thread is busy or lingers: no wake-up
                self._cond.notify_all()

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    break
                # Let the burst gather: the thread then wakes (and takes the GIL from the
                # engine's loop) once for it, not once per row. Whoever waits for the rows
                # (call, settle, sync, close) cuts this short.
                self._cond.wait_for(lambda: self._hurry or self._closing, LINGER_S)
                self._hurry = False
                burst = len(self._queue)
            for _ in range(burst):
                self._execute(self._queue[0])  # only this thread removes from the queue
                with self._cond:
                    self._queue.popleft()
                    self._cond.notify_all()
        self._db.close()

    def _execute(self, op: _Op) -> None:
        stall = _Stall()
        while True:
            try:
                result = op.write(self._db)
            except sqlite3.OperationalError as exc:
                if _is_busy(exc) and not self._abandon:
                    self._stalling(stall, op)
                    time.sleep(RETRY_S)
                    continue
                self._fail(op, exc)
                return
            except Exception as exc:  # a bug or a broken file: said, and the queue goes on
                self._fail(op, exc)
                return
            if self._stalled:
                with self._cond:
                    self._stalled = False
                if stall.told:
                    self._tell(f"{self.path} is writable again: the queued rows are written")
            if op.result is not None:
                op.result.set_result(result)
            return

    def _stalling(self, stall: _Stall, op: _Op) -> None:
        now = time.monotonic()
        if not self._stalled:
            with self._cond:
                self._stalled = True
                self._cond.notify_all()  # readers waiting in settle() go on
        stall.since = stall.since or now
        if not stall.told and now - stall.since >= BUSY_TIMEOUT_S:
            stall.told = True
            self._tell(
                f"{self.path} is locked by another process for {now - stall.since:.0f}s: "
                f"{self.pending} rows wait to be written (none lost)"
            )

    def _fail(self, op: _Op, exc: BaseException) -> None:
        self.lost.append(op.what)
        self._tell(f"{self.path}: {op.what} was not recorded: {type(exc).__name__}: {exc}", True)
        if op.result is not None:
            op.result.set_exception(exc)

    def _tell(self, text: str, error: bool = False) -> None:
        (log.error if error else log.warning)(text)
        for listener in list(self.listeners):
            try:
                listener(text)
            except Exception:  # a listener's bug must not stop the writes
                log.exception("store listener failed")

    # -- closing ---------------------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Write what is queued and end the thread; after ``timeout`` the rest is reported lost."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon = True  # the locked write fails now, and so does the rest: all said
            self._thread.join()

    @property
    def closed(self) -> bool:
        return not self._thread.is_alive()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


_writers: dict[Path, Writer] = {}
_registry = threading.Lock()


def acquire(path: Path) -> Writer:
    """The process's writer for ``path``, started on first use."""
    key = Path(path).resolve()
    with _registry:
        writer = _writers.get(key)
        if writer is None or writer.closed:
            writer = _writers[key] = Writer(key)
        writer.users += 1
        return writer


def release(writer: Writer) -> None:
    """One user fewer; the last one writes the queue out and ends the thread, unless the
    thread waits for another process's lock (then atexit does it: closing never freezes)."""
    with _registry:
        writer.users -= 1
        if writer.users > 0:
            return
    writer.settle()
    with _registry:
        if writer.users == 0 and writer.pending == 0 and _writers.get(writer.path) is writer:
            del _writers[writer.path]
            writer.close()


@atexit.register
def _close_all() -> None:
    with _registry:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close()
