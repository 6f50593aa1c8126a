"""The phase tree: phases -> stages with status icon and colour, live duration, attempts, host."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from cdtui.config.durations import format_duration
from cdtui.engine.events import Status
from cdtui.engine.state import PhaseState, RunState, StageState, StepState
from cdtui.presentation import ICONS, stage_outcome
from cdtui.ui import clock

STATUS_VAR = {
    Status.PENDING: "status-skipped",
    Status.WAITING: "status-waiting",
    Status.RUNNING: "status-running",
    Status.SUCCEEDED: "status-success",
    Status.FAILED: "status-failed",
    Status.TIMED_OUT: "status-failed",
    Status.CANCELLED: "status-cancelled",
    Status.SKIPPED: "status-skipped",
    Status.BLOCKED: "status-waiting",
    Status.INTERRUPTED: "status-failed",
}


LEAF_INDENT = 4  # the guide before a stage's label ("├ " under its phase) and a margin


@dataclass(frozen=True)
class NodeRef:
    phase: str
    stage: str | None = None


class PhaseTree(Tree[NodeRef]):
    """Follows the running stage until the operator moves the cursor."""

    BINDINGS = [Binding("space", "toggle_node", "Fold", show=False)]
    DEFAULT_CSS = """
    PhaseTree {
        width: 38; min-width: 24; border-right: tall $panel; padding: 0 1; overflow-x: hidden;
    }
    """

    class StageChosen(Message):
        """The operator (or follow mode) put the cursor on a stage."""

        def __init__(self, phase: str, stage: str | None) -> None:
            super().__init__()
            self.phase = phase
            self.stage = stage

    def __init__(self, **kwargs) -> None:
        super().__init__("pipeline", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self.following = True
        self._expected: TreeNode[NodeRef] | None = None
        self._by_ref: dict[tuple[str, str | None], TreeNode[NodeRef]] = {}
        self.state: RunState | None = None

    def load(self, state: RunState) -> None:
        """Rebuild the tree for a run (or the idle pipeline skeleton)."""
        self.state = state
        self.clear()
        self._by_ref.clear()
        for phase in state.phases.values():
            node = self.root.add(self._phase_label(phase), NodeRef(phase.name), expand=True)
            self._by_ref[(phase.name, None)] = node
            for stage in phase.stages.values():
                ref = NodeRef(phase.name, stage.name)
                if stage.steps:  # steps: children of their stage (choosing one shows its log)
                    leaf = node.add(self._stage_label(stage), ref, expand=True)
                    for step in stage.steps.values():
                        leaf.add_leaf(self._step_label(step), ref)
                else:
                    leaf = node.add_leaf(self._stage_label(stage), ref)
                self._by_ref[(phase.name, stage.name)] = leaf
        self.following = True

    def refresh_labels(self) -> None:
        """Repaint labels from ``state`` (cheap: a few dozen nodes, once a second or per event)."""
        if self.state is None:
            return
        now = clock.now()
        for phase in self.state.phases.values():
            node = self._by_ref.get((phase.name, None))
            if node is None:
                self.load(self.state)
                return
            node.set_label(self._phase_label(phase))
            for stage in phase.stages.values():
                leaf = self._by_ref.get((phase.name, stage.name))
                if leaf is None or len(leaf.children) != len(stage.steps):
                    following = self.following
                    self.load(self.state)
                    self.following = following
                    return
                leaf.set_label(self._stage_label(stage, now))
                for child, step in zip(leaf.children, stage.steps.values(), strict=False):
                    child.set_label(self._step_label(step, now))

    def follow_running(self) -> None:
        """Move the cursor to the running stage unless the operator took over."""
        if not self.following or self.state is None:
            return
        running = self.state.running_stage()
        if running is None:
            return
        node = self._by_ref.get((running.phase, running.name))
        if node is not None and self.cursor_node is not node:
            self._expected = node
            self.move_cursor(node)

    def select_stage(self, phase: str, stage: str | None) -> None:
        node = self._by_ref.get((phase, stage))
        if node is None:
            return
        self._expected = node
        if node.line < 0:  # just added: its line is known after the next refresh
            self.call_after_refresh(self.move_cursor, node)
        else:
            self.move_cursor(node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        event.stop()
        if event.node is not self._expected:
            self.following = False
        self._expected = None
        ref = event.node.data
        if ref is not None:
            self.post_message(self.StageChosen(ref.phase, ref.stage))

    @property
    def selected(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None

    # -- labels -----------------------------------------------------------------------
    def _style(self, status: Status) -> str:
        variables = self.app.theme_variables if self.is_mounted else {}
        return variables.get(STATUS_VAR[status], "")

    def _phase_label(self, phase: PhaseState) -> Text:
        text = Text()
        text.append(f"{ICONS[phase.status]} ", style=self._style(phase.status))
        text.append(phase.name, style="bold")
        if phase.gate:
            gate_style = self._style(Status.WAITING) if phase.status is Status.WAITING else "dim"
            text.append("  ‖ gate", style=gate_style)
        return text

    def _step_label(self, step: StepState, now: float | None = None) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        style = self._style(step.status)
        text.append(f"{ICONS[step.status]} ", style=style)
        text.append(step.name, style=style if step.status is Status.RUNNING else "")
        took = step.duration
        if took is None and step.started is not None:
            took = (now or clock.now()) - step.started
        if took is not None:
            text.append(f" {format_duration(took)}", style="dim")
        return text

    def _stage_label(self, stage: StageState, now: float | None = None) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        style = self._style(stage.status)
        text.append(f"{ICONS[stage.status]} ", style=style)
        text.append(stage.name, style=style if stage.status is Status.RUNNING else "")
        elapsed = stage.elapsed(now or clock.now())
        if elapsed is not None:
            text.append(f" {format_duration(elapsed)}", style="dim")
        if stage.attempt > 1:
            text.append(f" #{stage.attempt}", style="dim")
        if stage.host != "local":
            text.append(f" @{stage.host}", style="dim italic")
        if stage.progress and stage.status is Status.RUNNING:
            text.append(f" {stage.progress}", style="dim")
        if stage.status.finished and stage.status is not Status.SUCCEEDED:
            why = stage_outcome(stage.status, stage.reason, stage.exit_code)
            text.append(f" {why}", style=style if not stage.status.ok else "dim")
            room = self.scrollable_content_region.width - LEAF_INDENT if self.is_mounted else 0
            if room > 8:  # the whole reason is in the log pane's title; here, what fits
                text.truncate(room, overflow="ellipsis")
        return text
