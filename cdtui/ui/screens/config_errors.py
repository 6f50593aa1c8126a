"""Shown instead of the console when the pipeline file is invalid; reloads once it is fixed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from cdtui.config import LocatedError
from cdtui.ui.widgets.fit_footer import FitFooter


def render_errors(errors: list[LocatedError]) -> Text:
    text = Text()
    for error in errors:
        where = f"{error.file}:{error.line}:{error.col}" if error.line else error.file
        text.append(where, style="bold")
        if error.path and not error.path.startswith("("):
            text.append(f"  {error.path}", style="italic")
        text.append(f"\n  {error.message}\n")
        if error.hint:
            text.append(f"  hint: {error.hint}\n", style="dim")
        text.append("\n")
    return text


class ConfigErrorScreen(Screen[None]):
    """Lists every located error; the app watches the file and swaps this screen out."""

    BINDINGS = [Binding("q", "app.quit", "Quit"), Binding("r", "app.reload_config", "Reload")]
    DEFAULT_CSS = """
    ConfigErrorScreen .banner { background: $error; color: $text; padding: 0 1; text-style: bold; }
    ConfigErrorScreen VerticalScroll { padding: 1 2; }
    """

    def __init__(self, errors: list[LocatedError]) -> None:
        super().__init__()
        self.errors = errors

    def compose(self) -> ComposeResult:
        count = len(self.errors)
        yield Static(
            f"The pipeline file has {count} error{'s' if count != 1 else ''}. "
            "Fix and save it: the console reloads by itself.",
            classes="banner",
        )
        with VerticalScroll():
            yield Static(render_errors(self.errors), id="errors")
        yield FitFooter()

    def show(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        if self.is_mounted:
            self.query_one("#errors", Static).update(render_errors(errors))
