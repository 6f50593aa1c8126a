"""Past runs: status, start, duration, who. Enter opens one read-only; r re-runs its failures."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from cdtui.config.durations import format_duration
from cdtui.presentation import ICONS
from cdtui.store import RunStore, RunSummary
from cdtui.ui.widgets.fit_footer import FitFooter
from cdtui.ui.widgets.phase_tree import STATUS_VAR


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open_run", "Open"),
        Binding("R", "rerun", "Re-run failed"),
        Binding("escape,h,q", "app.pop_screen", "Back"),
    ]
    DEFAULT_CSS = """
    HistoryScreen .title {
        dock: top; height: 1; background: $panel; padding: 0 1; text-style: bold;
    }
    HistoryScreen DataTable { height: 1fr; }
    """

    class OpenRun(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    class RerunFailed(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, store: RunStore, limit: int = 200) -> None:
        super().__init__()
        self.store = store
        self.limit = limit
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Static(
            "History · Enter opens a run read-only · R re-runs its failed stages", classes="title"
        )
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield FitFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "status", "started", "took", "who", "stages", "note")
        self.reload()
        table.focus()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.runs = self.store.recent_runs(self.limit)
        for run in self.runs:
            colour = self.app.theme_variables.get(STATUS_VAR[run.status], "")
            status = Text(f"{ICONS[run.status]} {run.status}", style=colour)
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
            took = format_duration(run.duration) if run.duration is not None else "…"
            counts = " ".join(f"{n} {s.lower()}" for s, n in sorted(run.counts.items()) if n)
            table.add_row(
                str(run.id),
                status,
                started,
                took,
                run.user,
                counts,
                run.reason[:60],
                key=str(run.id),
            )
        if not self.runs:
            table.add_row("", "no runs yet", "", "", "", "", "")

    def _current(self) -> int | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None:
            return None
        return self.runs[min(table.cursor_row, len(self.runs) - 1)].id

    def action_open_run(self) -> None:
        run_id = self._current()
        if run_id is not None:
            self.post_message(self.OpenRun(run_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_rerun(self) -> None:
        run_id = self._current()
        if run_id is not None:
            self.post_message(self.RerunFailed(run_id))
