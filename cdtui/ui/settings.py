"""The operator's console settings (``~/.config/cdtui/settings.json``): a small typed model.

A dataclass, not pydantic: the settings are read before the first frame, which must not wait for
pydantic to import. A bad file never stops the console: each problem is told with its line, the
defaults stand in, and the file is left as it is (never overwritten) until it is fixed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What the console remembers between sessions; every field has a default."""

    theme: str | None = None  # a theme name; None: cdtui's default theme


@dataclass(frozen=True)
class SettingsProblem:
    """One thing wrong in the settings file, where it is, and what the console did about it."""

    path: Path
    line: int  # 1-based; 0 when about the whole file
    col: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}" if self.line else str(self.path)
        return f"{where}: {self.message}"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cdtui"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> tuple[Settings, list[SettingsProblem]]:
    """The settings, and the problems found; a missing file is no problem (all defaults)."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return Settings(), [SettingsProblem(path, 0, 0, f"cannot read ({reason}); using defaults")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg}; using defaults until it is fixed"
        return Settings(), [SettingsProblem(path, error.lineno, error.colno, message)]
    if not isinstance(data, dict):
        message = f"must be a JSON object ({{...}}), not {type(data).__name__}; using defaults"
        return Settings(), [SettingsProblem(path, 1, 1, message)]
    return _validate(data, text, path)


def _validate(
    data: dict[str, object], text: str, path: Path
) -> tuple[Settings, list[SettingsProblem]]:
    """Keep each good value; each bad one is told at its key's line and left at its default."""
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, object] = {}
    problems: list[SettingsProblem] = []
    for key, value in data.items():
        line, col = _locate(text, key)
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
            problems.append(SettingsProblem(path, line, col, f"unknown setting {key!r} ({hint})"))
        elif value is not None and not isinstance(value, str):
            shown = json.dumps(value)[:40]
            message = f"{key} must be a string, not {shown}; using the default"
            problems.append(SettingsProblem(path, line, col, message))
        else:
            values[key] = value
    return Settings(**values), problems  # type: ignore[arg-type]


def _locate(text: str, key: str) -> tuple[int, int]:
    """Line and column of ``"key":`` in the file (the first one: the file is flat)."""
    found = re.search(rf'"{re.escape(key)}"\s*:', text)
    if found is None:
        return 0, 0
    before = text[: found.start()]
    return before.count("\n") + 1, found.start() - (before.rfind("\n") + 1) + 1


def save_setting(name: str, value: object, path: Path | None = None) -> bool:
    """Persist one setting; False (nothing written) when the file has problems to fix first,
    or the home is read-only: neither may crash the console or lose what the operator wrote."""
    path = path or settings_path()
    settings, problems = load_settings(path)
    if problems:
        return False
    settings = dataclasses.replace(settings, **{name: value})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return False
    return True
