"""The headless renderer: the event stream as prefixed lines, then a summary table.

Output lines are written straight to the stream (one write per chunk, not per line)
so a stage printing a million lines is not slowed by rendering.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cdtui.config.durations import format_duration
from cdtui.engine.events import (
    ArtifactStored,
    CommitTested,
    Event,
    GateApproved,
    GateWaiting,
    LoadProgress,
    MetricRecorded,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    StageFinished,
    StageOutput,
    StagesExpanded,
    StageStarted,
    Status,
)
from cdtui.presentation import ICONS
from cdtui.textsafe import plain, safe

STATUS_COLOUR = {
    Status.SUCCEEDED: "green",
    Status.FAILED: "red",
    Status.TIMED_OUT: "red",
    Status.CANCELLED: "yellow",
    Status.SKIPPED: "dim",
    Status.BLOCKED: "yellow",
    Status.INTERRUPTED: "magenta",
    Status.RUNNING: "cyan",
    Status.WAITING: "yellow",
    Status.PENDING: "dim",
}
STATUS_STYLE = {status: (ICONS[status], colour) for status, colour in STATUS_COLOUR.items()}
_PALETTE = (36, 35, 34, 33, 94, 95, 96, 92)
PARTIAL_AFTER = 0.5


@dataclass
class _Row:
    phase: str
    stage: str
    status: Status = Status.PENDING
    duration: float = 0.0
    attempts: int = 0
    reason: str = ""
    host: str = "local"


class HeadlessRenderer:
    """Consumes events; ``flush_partials`` is called on a timer for lines without a newline."""

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.console = Console(
            file=self.out,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            soft_wrap=True,
        )
        self.rows: dict[tuple[str, str], _Row] = {}
        self._prefix: dict[tuple[str, str], str] = {}
        self._labels: dict[str, str] = {}  # stage -> "stage@host" for a one-host remote stage
        self._partial: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._last_line: dict[tuple[str, str], str] = {}  # a stage's last line printed
        self.width = 12
        self.final: RunFinished | None = None
        self.measured: dict[tuple[str, str], list[str]] = {}  # a stage's metrics, for the summary

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageOutput):
            self._output(event)
        elif isinstance(event, StageStarted):
            self._started(event)
        elif isinstance(event, StageFinished):
            self._finished(event)
        elif isinstance(event, PhaseStarted):
            self.console.print(f"[bold]━━ {escape(event.phase)}[/]")
        elif isinstance(event, PhaseFinished) and not event.status.ok:
            icon, style = STATUS_STYLE[event.status]
            tail = f": {escape(safe(event.reason))}" if event.reason else ""
            self.console.print(
                f"[{style}]{icon} phase {escape(event.phase)} {event.status.lower()}{tail}[/]"
            )
        elif isinstance(event, GateWaiting):
            stages = escape(", ".join(event.next_stages))
            phase = escape(event.phase)
            self.console.print(
                f"[yellow]‖ gate: phase {phase} waits for approval (next: {stages})[/]"
            )
        elif isinstance(event, GateApproved):
            self.console.print(
                f"[green]✓ gate: phase {escape(event.phase)} approved by {escape(event.who)}[/]"
            )
        elif isinstance(event, Notice):
            where = f"{event.stage}: " if event.stage else ""
            style = {"error": "red", "warning": "yellow"}.get(event.level, "dim")
            text = escape(safe(where + event.text))
            self.console.print(f"[{style}]{event.level}: {text}[/]", markup=True)
        elif isinstance(event, ArtifactStored):
            self.console.print(
                f"[dim]  artifact {escape(plain(event.path))} sha256:{event.sha256[:8]}… "
                f"{_size(event.size)}[/]"
            )
        elif isinstance(event, MetricRecorded):
            mark, style = {True: ("✓", "green"), False: ("✗", "red"), None: ("·", "dim")}[event.ok]
            limit = "" if event.threshold is None else f" ({event.op} {event.threshold:g})"
            unit = f" {plain(event.unit)}" if event.unit else ""
            self.console.print(
                f"[{style}]  {mark} {escape(event.stage)}: {escape(plain(event.name))} "
                f"{event.value:g}{escape(unit)}{limit}[/]"
            )
            said = f"{plain(event.name)} {event.value:g}{unit}"
            self.measured.setdefault((event.phase, event.stage), []).append(said)
        elif isinstance(event, LoadProgress):
            left = max(0, round(event.duration - event.second))
            target = f" of {event.target_rate:.0f}/s" if event.target_rate else ""
            self.console.print(
                f"[dim]{escape(event.stage):<{self.width}} ⏱ {event.second}s, {left}s left · "
                f"{event.rate:.0f}/s{target} · errors {event.error_rate:.1%} · p50 {event.p50:.1f}"
                f" p95 {event.p95:.1f} p99 {event.p99:.1f} ms[/]"
            )
        elif isinstance(event, CommitTested):
            dirty = " + uncommitted changes" if event.dirty else ""
            self.console.print(f"[dim]commit {event.commit[:12]}{dirty}[/]")
        elif isinstance(event, StagesExpanded):
            legs = escape(", ".join(event.legs))
            self.console.print(
                f"[dim]  matrix {escape(event.stage)}: {len(event.legs)} legs ({legs})[/]"
            )
        elif isinstance(event, RunFinished):
            self.flush_partials(0)
            self.final = event

    # -- lines ------------------------------------------------------------------------
    def _prefix_for(self, stage: str) -> str:
        key = ("", stage)
        prefix = self._prefix.get(key)
        if prefix is None:
            name = self._labels.get(stage, stage)
            self.width = max(self.width, len(name))
            label = f"{name:<{self.width}} | "
            if self.color:
                code = _PALETTE[len(self._prefix) % len(_PALETTE)]
                label = f"\x1b[{code}m{name:<{self.width}}\x1b[0m │ "
            prefix = self._prefix[key] = label
        return prefix

    def _output(self, event: StageOutput) -> None:
        key = (event.phase, event.stage, event.stream)
        text = event.text
        held = self._partial.pop(key, None)
        if held:
            text = held[0] + text
        body, newline, rest = text.rpartition("\n")
        if rest:
            self._partial[key] = (rest, held[1] if held else time.monotonic())
        if not newline:
            return
        body = safe(body)  # whole lines: SGR split across chunks and \r progress resolve
        self._last_line[(event.phase, event.stage)] = body.rsplit("\n", 1)[-1]
        prefix = self._prefix_for(event.stage)
        if event.stream == "stderr" and self.color:
            lines = body.split("\n")
            chunk = "".join(f"{prefix}\x1b[31m{line}\x1b[0m\n" for line in lines)
        else:
            chunk = prefix + body.replace("\n", "\n" + prefix) + "\n"
        self.out.write(chunk)

    def flush_partials(self, older_than: float = PARTIAL_AFTER) -> None:
        """Print lines still missing their newline (a progress prompt, a last line)."""
        now = time.monotonic()
        for key, (text, since) in list(self._partial.items()):
            if now - since >= older_than:
                del self._partial[key]
                self.out.write(f"{self._prefix_for(key[1])}{safe(text)}\n")
        self.out.flush()

    # -- states -----------------------------------------------------------------------
    def _started(self, event: StageStarted) -> None:
        if event.host != "local" and not event.host.endswith(" hosts"):
            self._labels[event.stage] = f"{event.stage}@{event.host}"
            self._prefix.pop(("", event.stage), None)
        row = self.rows.setdefault((event.phase, event.stage), _Row(event.phase, event.stage))
        row.status, row.attempts, row.host = Status.RUNNING, event.attempt, event.host
        again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        self.console.print(
            f"[cyan]▶ {escape(event.stage)}{again}[/] [dim]$ {escape(_one_line(event.command))}[/]",
            markup=True,
        )

    def _finished(self, event: StageFinished) -> None:
        for stream in ("stdout", "stderr"):
            held = self._partial.pop((event.phase, event.stage, stream), None)
            if held:
                self.out.write(f"{self._prefix_for(event.stage)}{safe(held[0])}\n")
        row = self.rows.setdefault((event.phase, event.stage), _Row(event.phase, event.stage))
        row.status, row.reason = event.status, event.reason
        row.duration += event.duration
        row.attempts = max(row.attempts, event.attempt)
        icon, style = STATUS_STYLE[event.status]
        took = f" {format_duration(event.duration)}" if event.attempt else ""
        said = self._last_line.pop((event.phase, event.stage), "")
        told = bool(event.reason) and said.rstrip().endswith(
            safe(event.reason)
        )  # its log's last line
        why = f" — {escape(safe(event.reason))}" if event.reason and not told else ""
        retry = f"; retrying in {event.retry_in:.1f}s" if event.will_retry else ""
        self.console.print(
            f"[{style}]{icon} {escape(event.stage)} {event.status.lower()}{took}{why}{retry}[/]",
        )

    def summary(self) -> None:
        """The table printed at the end: stage, status, duration, attempts."""
        self.out.flush()
        table = Table(title="Summary", title_justify="left", expand=False)
        longest = max((len(row.stage) for row in self.rows.values()), default=0)
        widths = {"reason": 30, "stage": min(longest, 28)}  # a sentence; a matrix leg's name
        for column in ("phase", "stage", "status", "duration", "attempts", "reason"):
            table.add_column(
                column,
                justify="right" if column in ("duration", "attempts") else "left",
                min_width=widths.get(column),
                overflow="fold",  # never "tests[python…": which leg is the point
            )
        for row in self.rows.values():
            _, style = STATUS_STYLE[row.status]
            table.add_row(
                escape(row.phase),
                escape(row.stage),
                f"[{style}]{row.status}[/]",
                format_duration(row.duration) if row.attempts else "",
                str(row.attempts) if row.attempts else "",
                escape(safe(row.reason)),
            )
        self.console.print(table)
        for (_phase, stage), measured in self.measured.items():
            self.console.print(f"  {escape(stage)}: {escape(', '.join(measured))}")
        if self.final is not None:
            icon, style = STATUS_STYLE[self.final.status]
            tail = f": {escape(safe(self.final.reason))}" if self.final.reason else ""
            self.console.print(
                f"[{style} bold]{icon} run {self.final.run_id} {self.final.status.lower()}[/]{tail}"
            )


def _size(size: int) -> str:
    """Whole units (12 KB, 3 MB): enough to tell one artifact from another at a glance."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} GB"


def _one_line(command: str) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    return safe(first) + (" …" if "\n" in command.strip() else "")
