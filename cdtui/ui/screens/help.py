"""``?``: every key of the screen and of the log pane, with what it does."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from cdtui.presentation import icon_legend
from cdtui.ui.commands import key_name
from cdtui.ui.widgets.log_pane import LogPane
from cdtui.ui.widgets.phase_tree import PhaseTree

Section = tuple[str, Sequence[Binding | tuple[str, ...]]]  # title, that screen's BINDINGS
EXTRA = [
    ("↑/↓, Enter, Space", "tree: move, open/fold a phase"),
    ("Tab", "move focus between the tree and the log"),
    ("ctrl+p", "command palette: every action by name"),
    ("Esc", "close a search, a filter or a dialog"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, screen: Screen, sections: Sequence[Section] | None = None) -> None:
        """``sections`` default to the pipeline view's: its keys, the log pane's and the tree's."""
        super().__init__()
        self.source = screen
        self.icons = sections is None  # the pipeline view's tree
        self.sections = list(sections or ()) or [
            ("Console", screen.BINDINGS),
            ("Log pane", LogPane.BINDINGS),
            ("Phase tree", PhaseTree.BINDINGS),
        ]

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, bindings in self.sections:
            table.add_row(f"[reverse] {title} [/]", "")
            for binding in bindings:
                if isinstance(binding, Binding) and binding.description:
                    table.add_row(key_name(binding), binding.tooltip or binding.description)
            table.add_row("", "")
        for key, what in EXTRA:
            table.add_row(key, what)
        if self.icons:
            table.add_row("", "")
            table.add_row("[reverse] Tree icons [/]", "")
            for glyph, meaning in icon_legend():
                table.add_row(glyph, meaning)
        with VerticalScroll():
            yield Static(table)
