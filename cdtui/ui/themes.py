"""Themes from files: every ``*.toml`` in the project's ``themes/`` and the user's config dir.

A theme file names Textual's base colours plus cdtui's status colours (``[variables]``);
missing status colours fall back to the theme's own success/error/warning, so a minimal
user theme still works. The chosen theme persists in the user's settings (``settings.py``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.theme import Theme

import cdtui
from cdtui.ui.settings import config_dir

DEFAULT_THEME = "cdtui-dark"
BASE_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)
STATUS_FALLBACK = {
    "status-success": "success",
    "status-failed": "error",
    "status-running": "primary",
    "status-waiting": "warning",
    "status-skipped": "secondary",
    "status-cancelled": "warning",
    "colour-blue": "primary",
    "colour-green": "success",
}


def theme_dirs() -> list[Path]:
    bundled = Path(cdtui.__file__).resolve().parent.parent / "themes"
    return [bundled, config_dir() / "themes"]


@dataclass(frozen=True)
class ThemeProblem:
    path: Path
    message: str


def parse_theme(path: Path) -> Theme:
    """One theme file as a Textual theme; raises ValueError with a readable message."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read: {error}") from None
    name = data.get("name") or path.stem
    if "primary" not in data:
        raise ValueError("a theme needs at least 'primary'")
    base = {k: data[k] for k in BASE_KEYS if isinstance(data.get(k), str)}
    variables = {str(k): str(v) for k, v in (data.get("variables") or {}).items()}
    for var, fallback in STATUS_FALLBACK.items():
        if var not in variables:
            variables[var] = base.get(fallback) or base["primary"]
    try:
        return Theme(name=str(name), dark=bool(data.get("dark", True)), variables=variables, **base)
    except Exception as error:  # Textual validates colours lazily; keep one bad file harmless
        raise ValueError(str(error)) from None


def load_themes(dirs: list[Path] | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in dirs or theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = parse_theme(path)
            except ValueError as error:
                problems.append(ThemeProblem(path, str(error)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
