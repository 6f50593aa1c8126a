"""Collapsible groups per stage in a CI log: ``::group::`` on GitHub Actions, section markers on
GitLab CI.

A CI log cannot nest or interleave groups, and parallel stages interleave their lines. So one
stage at a time owns the log: its events pass straight through inside its group, live; the
events of stages running beside it are held (in order) and replayed inside their own group when
the log is theirs. Only a stage's own events are held; phase, gate and run events pass through
once every stage before them is written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TextIO

from cdtui.engine.events import Event, StageFinished

Renderer = Callable[[Event], None]
HELD_MAX = 20000  # events held per stage; past that they are dropped, and said (cdtui logs has all)


class Markers:
    def __init__(self, service: str) -> None:
        self.service = service

    def open(self, title: str, key: str) -> str:
        if self.service == "gitlab":
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100]
            stamp = int(time.time())
            return f"\x1b[0Ksection_start:{stamp}:{name}[collapsed=true]\r\x1b[0K{title}\n"
        return f"::group::{title}\n"

    def close(self, key: str) -> str:
        if self.service == "gitlab":
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100]
            return f"\x1b[0Ksection_end:{int(time.time())}:{name}\r\x1b[0K\n"
        return "::endgroup::\n"


class GroupedRenderer:
    """Wraps the headless renderer: same lines, each stage's inside its own group."""

    def __init__(
        self, renderer: Renderer, out: TextIO, service: str, beside: list[Renderer] | None = None
    ) -> None:
        self._renderer = renderer
        self.beside = list(beside or [])  # consumers that write into the same log, in order
        self.out = out
        self.markers = Markers(service)
        self.owner: tuple[str, str] | None = None
        self.order: list[tuple[str, str]] = []  # stages waiting for the log, in start order
        self.held: dict[tuple[str, str], list[Event]] = {}
        self.dropped: dict[tuple[str, str], int] = {}
        self.done: set[tuple[str, str]] = set()
        self.later: list[Event] = []

    def __call__(self, event: Event) -> None:
        key = _stage_key(event)
        if key is None:
            if self.owner is None and not self.order:
                self.renderer(event)
            else:  # a phase or run event while stages are open: after them
                self.later.append(event)
            return
        if key != self.owner and key not in self.held:
            if _final(event) and self.owner is None and not self.order:
                self.renderer(event)  # a skipped stage: one line, no group
                return
            self.order.append(key)
            self.held[key] = []
        if self.owner is None:
            self._next()
        if key == self.owner:
            self.renderer(event)
            if _final(event):
                self._release()
            return
        held = self.held[key]
        if len(held) < HELD_MAX or _final(event):
            held.append(event)
        else:
            self.dropped[key] = self.dropped.get(key, 0) + 1
        if _final(event):
            self.done.add(key)

    def _next(self) -> None:
        while self.owner is None and self.order:
            key = self.owner = self.order.pop(0)
            self.out.write(self.markers.open(f"{key[0]} / {key[1]}", f"{key[0]}_{key[1]}"))
            for event in self.held.pop(key, []):
                self.renderer(event)
            if self.dropped.get(key):
                said = f"… {self.dropped.pop(key)} more events of {key[1]}: see cdtui logs\n"
                self.out.write(said)
            if key in self.done:
                self._close()
        if self.owner is None:
            later, self.later = self.later, []
            for event in later:
                self.renderer(event)

    def _release(self) -> None:
        self._close()
        self._next()

    def _close(self) -> None:
        assert self.owner is not None
        key, self.owner = self.owner, None
        self.done.discard(key)
        self.out.write(self.markers.close(f"{key[0]}_{key[1]}"))
        self.out.flush()

    def renderer(self, event: Event) -> None:
        self._renderer(event)
        for consumer in self.beside:
            consumer(event)

    def flush_partials(self, older_than: float = 0.5) -> None:
        flush = getattr(self._renderer, "flush_partials", None)
        if flush is not None:
            flush(older_than)


def _stage_key(event: Event) -> tuple[str, str] | None:
    stage = getattr(event, "stage", "")
    phase = getattr(event, "phase", "")
    return (phase, stage) if stage else None


def _final(event: Event) -> bool:
    return isinstance(event, StageFinished) and not event.will_retry
