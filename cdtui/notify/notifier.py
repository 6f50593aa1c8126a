"""The session's notifier: the bus's events into the outbox, and one worker per sink out of it.

Its bus subscriber is synchronous and only queues (the ``Appender`` encodes and writes the log a
few times a second), so no sink can slow a run; the workers are tasks of the running loop and
wake on what was written (and poll for events other processes appended). ``snapshot()`` is the
typed state the console shows; ``settle()`` lets a short-lived ``cdtui run`` hand what it can to
healthy sinks before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.config.notify import LogConfig, NotifyEntry
from cdtui.engine.events import Event, Notice, RunFinished, RunStarted, StageOutput
from cdtui.engine.masking import SecretMasker
from cdtui.notify.appender import Appender, Written
from cdtui.notify.base import Sink, SinkContext, SinkError
from cdtui.notify.filters import EventFilter
from cdtui.notify.outbox import Cursor, EventLog
from cdtui.notify.payload import Payload, clamp, new_id, to_line
from cdtui.notify.sinks import make_sink
from cdtui.notify.summary import RunDigest
from cdtui.notify.worker import TEST_KIND, SinkState, SinkWorker
from cdtui.store.paths import state_dir

if TYPE_CHECKING:
    from cdtui.config.models import Pipeline
    from cdtui.engine.bus import EventBus, Unsubscribe

SETTLE_TIMEOUT = 3.0


def log_path(pipeline: Pipeline, project_dir: Path) -> Path:
    """The event log (the outbox): ``{log: PATH}`` (under the state dir unless absolute)."""
    entry = next((e.log for e in pipeline.notify if e.log is not None), None) or LogConfig()
    path = Path(entry.path).expanduser()
    return path if path.is_absolute() else state_dir(project_dir) / path


class Notifier:
    """Built from a pipeline's ``notify:``; ``attach`` puts it on a bus, ``close`` takes it off."""

    def __init__(
        self,
        pipeline: Pipeline,
        project_dir: Path,
        secrets: Mapping[str, str],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.project = pipeline.project
        self.context = SinkContext(
            pipeline.project,
            Path(project_dir),
            state_dir(project_dir),
            dict(os.environ if environ is None else environ),
            dict(secrets),
        )
        self.log = EventLog(log_path(pipeline, project_dir))
        self.appender = Appender(self.log, self._encode, self._written)
        self.failed: list[SinkState] = []
        sinks = [self._build(e) for e in pipeline.notify if e.log is None]
        hidden = [*secrets.values(), *(v for s, _ in sinks if s for v in s.secret_values())]
        self.masker = SecretMasker(hidden)
        cursors = self.context.state_dir / "notify"
        self.workers = [
            SinkWorker(
                sink,
                self.log,
                Cursor(cursors, sink.name),
                EventFilter(entry.on, entry.phases, entry.stages, sink.default_on),
                self.masker,
                entry.dedupe if entry.dedupe is not None else sink.dedupe,
            )
            for sink, entry in sinks
            if sink is not None
        ]
        self.digest = RunDigest()
        self._ends: list[Unsubscribe] = []
        self._bus: EventBus | None = None

    def _build(self, entry: NotifyEntry) -> tuple[Sink | None, NotifyEntry]:
        try:
            return make_sink(entry.kind, entry.sink_name, entry.config, self.context), entry
        except SinkError as error:  # an unset variable: the run goes on, the sink is shown failed
            word = "off" if entry.optional else "failed"
            state = SinkState(entry.sink_name, entry.kind, word, 0, 0, 0, 0, None, str(error))
            self.failed.append(state)
            return None, entry

    # -- the bus side ---------------------------------------------------------------------
    def attach(self, bus: EventBus) -> None:
        self._bus = bus
        self._ends.append(bus.subscribe(self.record))
        sub = bus.subscribe_async(self._settle_after, (RunFinished,), name="notifier")
        self._ends.append(lambda: bus.unsubscribe(sub))

    def record(self, event: Event) -> None:
        """Append ``event`` to the outbox (output only feeds run summaries) and wake the sinks."""
        if isinstance(event, StageOutput):
            self.digest.output(event)
            return
        if isinstance(event, RunStarted) and self.failed:
            self._tell_failed(event.run_id)
        # Into the log first (the durable outbox), then (``_written``) to each worker.
        self.appender.put((event, self.digest.extra(event)))  # (the digest's view now)

    def _encode(self, item: tuple[Event, dict[str, Any] | None]) -> tuple[Payload, bytes]:
        event, extra = item
        what = {"project": self.project, "event_id": new_id(event.at), "extra": extra}
        return to_line(event, masker=self.masker, **what)

    def _written(self, lines: Written) -> None:
        """Lines now in the log, to the workers in memory (on the loop's thread)."""
        self.start()
        workers = self.workers
        for start, end, payload in lines:
            for worker in workers:
                worker.offer(start, end, payload)

    def _tell_failed(self, run_id: int) -> None:
        """A sink that could not start is a warning of the run (after its RunStarted)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        bus = self._bus
        for state in self.failed:
            if state.state == "off":
                continue
            notice = Notice(run_id, time.time(), "warning", f"notify: {state.last_error}")
            if bus is not None:
                loop.call_soon(bus.emit, notice)

    async def _settle_after(self, _event: Event) -> None:
        await self.settle(SETTLE_TIMEOUT)

    # -- the workers --------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers on the running loop (a no-op without one, or once started)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for worker in self.workers:
            if worker.task is None or worker.task.done():
                worker.task = loop.create_task(worker.run(), name=f"notify:{worker.sink.name}")

    async def settle(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) until every healthy sink has what the log holds now."""
        self.appender.flush()
        self.start()
        deadline = time.monotonic() + timeout
        while not all(w.settled for w in self.workers):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def snapshot(self) -> tuple[SinkState, ...]:
        """Per sink: ok / retrying (and when next) / standby / failed, queued, delivered,
        dropped: what the console's notifier panel shows."""
        return (*(w.snapshot() for w in self.workers), *self.failed)

    async def test(self, only: str | None = None) -> list[tuple[str, str, bool, str]]:
        """One test message to each sink (or ``only``), bypassing filters and the outbox:
        (name, kind, ok, what it answered), errors masked."""
        at = time.time()
        payload: Payload = {"kind": TEST_KIND, "id": new_id(at), "project": self.project}
        payload |= {"run": 0, "at": at, "text": f"test message from cdtui for {self.project}"}
        results: list[tuple[str, str, bool, str]] = []
        if only in (None, "log"):
            self.log.append(payload)
            results.append(("log", "log", True, f"appended to {self.log.path}"))
        for worker in self.workers:
            sink = worker.sink
            if only not in (None, sink.name):
                continue
            try:
                answer = await sink.send([clamp(payload, sink.max_bytes)]) or "accepted"
                results.append((sink.name, sink.kind, True, answer))
            except Exception as error:  # RetryLater, SinkError or a bug: all reported
                results.append((sink.name, sink.kind, False, self.masker.mask_text(str(error))))
            finally:
                await sink.close()
        results += [
            (s.name, s.kind, False, s.last_error) for s in self.failed if only in (None, s.name)
        ]
        return results

    def backlog(self) -> list[tuple[str, str, int, str, str]]:
        """Per sink (name, kind, events queued for it, last delivered id, error): what
        ``cdtui notify status`` prints; reads the log from each cursor."""
        rows = []
        for worker in self.workers:
            saved = worker.cursor.load() or {}
            queued = sum(1 for _, p in self.log.read(worker.offset, 1 << 30) if worker.wanted(p))
            rows.append((worker.sink.name, worker.sink.kind, queued, saved.get("id", ""), ""))
        rows += [(s.name, s.kind, 0, "", s.last_error) for s in self.failed]
        return rows

    def close(self) -> None:
        """Off the bus, workers stopped; undelivered events wait in the outbox for next time."""
        for end in self._ends:
            end()
        self._ends.clear()
        self.appender.flush()  # (the workers may not take it now: the next cdtui delivers)
        for worker in self.workers:
            if worker.task is not None and not worker.task.done():
                with contextlib.suppress(RuntimeError):  # its loop is already closed
                    worker.task.cancel()
            worker.flush()  # the last cursor, while the lock is still ours
            worker.cursor.unlock()
        self.log.close()

    async def aclose(self) -> None:
        self.close()
        for worker in self.workers:
            if worker.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker.task
            await worker.sink.close()
