"""``cdtui logs``: print a run's stored output, or follow it live from another process.

Reads only the store (log files + SQLite), so it works while the run is driven elsewhere:
``--follow`` polls the files and the run's status, and stops once the run has finished.
"""

from __future__ import annotations

import codecs
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from cdtui.commands.history import fail, open_store
from cdtui.store import AttemptRecord, RunStore, store_exists
from cdtui.textsafe import safe

POLL_INTERVAL = 0.2
PARTIAL_POLLS = 3  # a line without its newline is shown after ~0.6 s without growth
LIVENESS_EVERY = 10  # polls between checks that the driving process is still alive (~2 s)
_READ_CHUNK = 1 << 20


class _Tail:
    """One attempt's log read from where the last read stopped.

    Raw, it yields the stored bytes as they are. Otherwise it yields whole lines made
    terminal-safe (``cdtui.textsafe``), each with ``prefix``: a partial line waits for its end,
    for the attempt to finish, or (following) for ``PARTIAL_POLLS`` polls without growth.
    """

    def __init__(self, path: Path, prefix: str, raw: bool = False) -> None:
        self.path = path
        self.prefix = prefix
        self.raw = raw
        self.offset = 0
        self.done = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""
        self._idle = 0  # polls the partial line has not grown

    def read(self, final: bool) -> Iterator[str | bytes]:
        """New output since the last read; ``final`` when the attempt can write no more."""
        grew = False
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                while data := fh.read(_READ_CHUNK):
                    self.offset += len(data)
                    grew = True
                    if self.raw:
                        yield data
                    elif text := self._lines(self._decoder.decode(data)):
                        yield text
        except FileNotFoundError:
            pass
        if final:
            self.done = True
            if not self.raw:
                self._partial += self._decoder.decode(b"", final=True)
        self._idle = 0 if grew else self._idle + 1
        if self._partial and (final or self._idle >= PARTIAL_POLLS):
            end = "\n" if self.prefix else ""  # without a prefix the log is printed as is
            yield f"{self.prefix}{safe(self._partial)}{end}"
            self._partial = ""

    def _lines(self, text: str) -> str:
        head, newline, self._partial = (self._partial + text).rpartition("\n")
        if not newline:
            return ""
        head = safe(head)
        if not self.prefix:
            return head + "\n"
        return "".join(f"{self.prefix}{line}\n" for line in head.split("\n"))


@dataclass(frozen=True, slots=True)
class _Selection:
    """Which attempts to print; names are matched case-insensitively."""

    phase: str | None
    stage: str | None
    attempt: int | None
    min_attempt: int = 0

    def matches(self, a: AttemptRecord) -> bool:
        return (
            a.attempt > 0
            and (self.phase is None or a.phase.casefold() == self.phase.casefold())
            and (self.stage is None or a.stage.casefold() == self.stage.casefold())
            and (self.attempt is None or a.attempt == self.attempt)
            and a.attempt >= self.min_attempt
        )


def _resolve_run(store: RunStore, run: str, project_dir: Path) -> int:
    if run == "last":
        run_id = store.latest_run_id()
        if run_id is None:
            fail(f"no runs recorded in {project_dir} yet")
        return run_id
    if not run.isdigit():
        fail(f"RUN must be a run number or 'last', not {run!r}")
    if store.run(int(run)) is None:
        latest = store.latest_run_id()
        fail(f"no run {run} in {project_dir} (latest is {latest}; see `cdtui history`)")
    return int(run)


def _names(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(values)) or "none yet"


def _select(
    store: RunStore,
    run_id: int,
    phase: str | None,
    stage: str | None,
    attempt: int | None,
    live: bool,
) -> _Selection:
    """Check the names against the run; while it runs, unknown names may still appear."""
    attempts = [a for a in store.attempts(run_id) if a.attempt > 0]
    selection = _Selection(phase, stage, attempt)
    known_phase = any(_Selection(phase, None, None).matches(a) for a in attempts)
    if phase is not None and not known_phase and not live:
        fail(f"run {run_id} has no phase {phase!r} (phases: {_names(a.phase for a in attempts)})")
    if stage is not None:
        found = [a for a in attempts if _Selection(phase, stage, None).matches(a)]
        if not found and not live:
            fail(
                f"run {run_id} has no stage {stage!r} (stages: {_names(a.stage for a in attempts)})"
            )
        if len({a.phase for a in found}) > 1:
            fail(
                f"stage {stage!r} ran in phases {_names(a.phase for a in found)}: pick with --phase"
            )
        if attempt is None:  # the latest attempt, and while following, any retry after it
            selection = _Selection(phase, stage, None, max((a.attempt for a in found), default=0))
    if attempt is not None and not any(selection.matches(a) for a in attempts) and not live:
        fail(f"run {run_id} has no attempt {attempt} for that selection")
    return selection


def _print(text: str | bytes) -> None:
    click.echo(text, nl=False, color=True)  # SGR kept in a pipe, as headless; bytes untouched


def _prefix(a: AttemptRecord) -> str:
    return f"{a.stage}| " if a.attempt == 1 else f"{a.stage}#{a.attempt}| "


def _stream(
    store: RunStore, run_id: int, selection: _Selection, *, prefix: bool, raw: bool, follow: bool
) -> int:
    """Print the selected logs; when following, poll until the run's status is final.

    Returns how many attempts matched.
    """
    tails: dict[tuple[str, str, int], _Tail] = {}
    polls = 0
    while True:
        summary = store.run(run_id)  # status first: a finished state implies flushed logs
        live = follow and summary is not None and not summary.status.finished
        for a in store.attempts(run_id):
            if not selection.matches(a):
                continue
            key = (a.phase, a.stage, a.attempt)
            tail = tails.get(key)
            if tail is None:
                if (raw or not prefix) and tails:
                    click.echo(f"--- {a.stage} attempt {a.attempt} ---", err=True)
                tail = tails[key] = _Tail(a.log_path, _prefix(a) if prefix else "", raw)
            if not tail.done:
                for text in tail.read(final=a.status.finished or not live):
                    _print(text)
        if not live:
            if follow and summary is not None:
                click.echo(f"run {run_id} {summary.status.value.lower()}", err=True)
            return len(tails)
        polls += 1
        if polls % LIVENESS_EVERY == 0:
            store.mark_interrupted()  # a dead driver must not keep us following forever
        time.sleep(POLL_INTERVAL)


def _is_project_dir(arg: str) -> bool:
    """`cdtui logs last ./proj`: a lone second argument that is a path, not a stage name."""
    return (
        "/" in arg
        or arg.startswith(".")
        or (store_exists(Path(arg)) and not store_exists(Path(".")))
    )


@click.command()
@click.argument("run")
@click.argument("stage", required=False)
@click.argument("project_dir", required=False, type=click.Path(path_type=Path))
@click.option("--phase", help="Only this phase (needed when two phases share a stage name).")
@click.option("--attempt", type=click.IntRange(min=1), help="This attempt (default: the latest).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the run finishes.")
@click.option(
    "--raw",
    is_flag=True,
    help="The exact stored bytes: escape sequences and all, no prefix (for a file, not a screen).",
)
def logs(
    run: str,
    stage: str | None,
    project_dir: Path | None,
    phase: str | None,
    attempt: int | None,
    follow: bool,
    raw: bool,
) -> None:
    """Print the output of RUN (a number or `last`), of every stage or only STAGE.

    Without STAGE each line is prefixed with its stage name. Control sequences other than
    colours are shown as visible escapes (``␛]0;title␇``); --raw writes the stored bytes.
    """
    if project_dir is None:
        if stage is not None and _is_project_dir(stage):
            project_dir, stage = Path(stage), None
        else:
            project_dir = Path(".")
    store = open_store(project_dir)
    if store is None:
        fail(f"no runs recorded in {project_dir} yet")
    with store:
        run_id = _resolve_run(store, run, project_dir)
        summary = store.run(run_id)
        live = follow and summary is not None and not summary.status.finished
        selection = _select(store, run_id, phase, stage, attempt, live)
        try:
            matched = _stream(
                store, run_id, selection, prefix=stage is None and not raw, raw=raw, follow=follow
            )
        except KeyboardInterrupt:
            sys.exit(130)
    if live and not matched and (stage or phase or attempt):
        fail(f"run {run_id} finished without running {stage or phase or f'attempt {attempt}'!r}")
