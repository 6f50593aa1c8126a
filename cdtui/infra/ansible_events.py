"""Reading ansible-playbook's output as cdtui's callback writes it: marked JSON lines become log
lines (PLAY, TASK, one per host result, coloured), per-host counts and the first failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cdtui.infra.cfn_events import BOLD, DIM, GREEN, RED, RESET, YELLOW

MARKER = "@cdtui "  # as cdtui_jsonl.py prints it
STATUS_STYLE = {
    "ok": GREEN,
    "changed": YELLOW,
    "failed": RED,
    "unreachable": RED,
    "skipped": DIM,
}


@dataclass
class HostCounts:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    def text(self) -> str:
        return f"ok={self.ok} changed={self.changed} failed={self.failed}" + (
            f" unreachable={self.unreachable}" if self.unreachable else ""
        )


@dataclass
class PlaybookView:
    """Turns stdout into log text; keeps counts per host and the first failure."""

    write: Callable[[str, bytes], None]  # (stream, data) into the stage's log
    on_counts: Callable[[dict[str, HostCounts]], None] = lambda _counts: None
    hosts: dict[str, HostCounts] = field(default_factory=dict)
    first_failure: str = ""
    _partial: bytes = b""

    def feed(self, stream: str, data: bytes) -> None:
        if stream != "stdout":
            self.write(stream, data)
            return
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if not text.startswith(MARKER):
            self.write("stdout", raw + b"\n")
            return
        try:
            event = json.loads(text[len(MARKER) :])
        except json.JSONDecodeError:
            self.write("stdout", raw + b"\n")
            return
        shown = self._render(event)
        if shown:
            self.write("stdout", shown.encode())

    def _render(self, event: dict[str, Any]) -> str:
        kind = event.get("event")
        if kind == "play":
            return f"{BOLD}PLAY [{event.get('name', '')}]{RESET}\n"
        if kind == "task":
            handler = "HANDLER " if event.get("handler") else ""
            return f"{BOLD}{handler}TASK [{event.get('name', '')}]{RESET}\n"
        if kind == "result":
            return self._result(event)
        if kind == "stats":
            return self._stats(event.get("hosts", {}))
        if kind == "warning":
            return f"{YELLOW}warning: {event.get('msg', '')}{RESET}\n"
        return ""

    def _result(self, event: dict[str, Any]) -> str:
        status, host = event.get("status", "?"), event.get("host", "?")
        counts = self.hosts.setdefault(host, HostCounts())
        ignored = bool(event.get("ignored"))
        if status in ("ok", "changed", "skipped", "unreachable") or (
            status == "failed" and not ignored
        ):
            setattr(counts, status, getattr(counts, status) + 1)
        if status == "changed":
            counts.ok += 1  # ansible counts a changed task as ok too
        message = event.get("msg", "")
        if status in ("failed", "unreachable") and not ignored and not self.first_failure:
            what = "unreachable" if status == "unreachable" else "failed"
            self.first_failure = (
                f"host {host}, task {event.get('task', '?')!r} {what}: {message or 'no message'}"
            )
        self.on_counts(self.hosts)
        label = (
            "FAILED (ignored)"
            if ignored
            else status.upper()
            if status in ("failed", "unreachable")
            else status
        )
        said = status in ("failed", "unreachable") or str(event.get("action", "")).endswith("debug")
        tail = f": {message}" if message and said else ""
        return f"  {STATUS_STYLE.get(status, '')}{label}{RESET}: [{host}]{tail}\n"

    def _stats(self, hosts: dict[str, dict[str, int]]) -> str:
        lines = [f"{BOLD}PLAY RECAP{RESET}\n"]
        for host, summary in hosts.items():
            counts = self.hosts.setdefault(host, HostCounts())
            counts.ok, counts.changed = summary.get("ok", 0), summary.get("changed", 0)
            counts.failed, counts.unreachable = (
                summary.get("failures", 0),
                summary.get("unreachable", 0),
            )
            counts.skipped = summary.get("skipped", 0)
            lines.append(f"  {host}: {counts.text()} skipped={counts.skipped}\n")
        self.on_counts(self.hosts)
        return "".join(lines)
