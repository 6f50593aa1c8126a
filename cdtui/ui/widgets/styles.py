"""Theme variables as rich styles: the widgets paint Text, which cannot read CSS variables."""

from __future__ import annotations

from textual.widget import Widget

LEVEL_VAR = {
    "success": "status-success",
    "error": "status-failed",
    "warning": "status-waiting",
    "info": "",
}


def colour_var(widget: Widget, colour: str) -> str:
    """The theme's tint for ``blue``/``green`` (the name itself when the theme has none)."""
    return widget.app.theme_variables.get(f"colour-{colour}", colour)


def level_style(widget: Widget, level: str) -> str:
    """The theme's status colour for a level (success, error, warning, info)."""
    var = LEVEL_VAR.get(level, "")
    return widget.app.theme_variables.get(var, "") if var else ""
