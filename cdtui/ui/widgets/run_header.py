"""The header line: project, run id, run status and elapsed time (plus a read-only badge)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cdtui.config.durations import format_duration
from cdtui.engine.events import Status
from cdtui.engine.state import RunState
from cdtui.presentation import ICONS
from cdtui.ui import clock
from cdtui.ui.widgets.phase_tree import STATUS_VAR


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { dock: top; height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def show(
        self,
        project: str,
        state: RunState | None,
        readonly: bool = False,
        viewing: bool = False,
        watching: str = "",  # watch mode's line (W): what triggered the run
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("cdtui ", style="bold")
        text.append(f"· {project} ")
        if watching:  # first, so a narrow terminal's ellipsis never hides it
            text.append(f"· {watching} ", style="bold")
        if state is None or state.run_id is None:
            text.append("· no run yet", style="dim")
        else:
            colour = self.app.theme_variables.get(STATUS_VAR[state.status], "")
            text.append(f"· run #{state.run_id} ")
            text.append(f"{ICONS[state.status]} {state.status}", style=f"bold {colour}")
            if state.started:
                end = state.finished or (clock.now() if not state.status.finished else None)
                if end:
                    text.append(f" · {format_duration(max(0.0, end - state.started))}")
            counts = _counts(state)
            if counts:
                text.append(f" · {counts}", style="dim")
            if state.status is Status.WAITING:
                text.append("  ‖ a gate waits: press a", style="bold")
        if viewing:
            text.append("  HISTORY", style="bold reverse")
        elif readonly:
            text.append("  READ-ONLY", style="bold reverse")
        self.update(text)


def _counts(state: RunState) -> str:
    """``3/4 stages``; a finished run counts the stages it reached and says how many it did not
    (a run of one phase, or a failure that ended it early), never ``0/10`` for a run of one."""
    total = done = unreached = 0
    for phase in state.phases.values():
        for stage in phase.stages.values():
            total += 1
            done += stage.status in (Status.SUCCEEDED, Status.SKIPPED)
            unreached += stage.status is Status.PENDING
    if not total:
        return ""
    if state.status.finished and unreached:
        return f"{done}/{total - unreached} stages · {unreached} not run"
    return f"{done}/{total} stages"
