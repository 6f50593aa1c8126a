"""Errors that point at a line of the pipeline file, and the map from data paths to those lines."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import yaml

PathKey = tuple[str | int, ...]

FILE_PATH = "(file)"
"""The path of an error about the whole file (missing, unreadable, empty, too large): line 0."""
ROOT_PATH = "(top level)"
"""The path of an error about the document's top-level value."""

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MAX_SHOWN = 40


@dataclass(frozen=True)
class LocatedError:
    """One problem in a pipeline file; line and col are 1-based, line 0 means the whole file."""

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line > 0 else self.file
        if self.path in ("", FILE_PATH, ROOT_PATH):
            return f"{where}: {self.message}"
        return f"{where}: {self.path}: {self.message}"


class ConfigError(Exception):
    """A pipeline file that cannot be used; carries every problem found, not only the first."""

    def __init__(self, errors: Sequence[LocatedError]) -> None:
        self.errors: list[LocatedError] = list(errors)
        super().__init__(format_errors(self.errors))


def format_errors(errors: Iterable[LocatedError]) -> str:
    """One line per error, each followed by its hint (indented), as the CLI prints them."""
    lines: list[str] = []
    for error in errors:
        lines.append(str(error))
        if error.hint:
            lines.append(f"    hint: {error.hint}")
    return "\n".join(lines)


def format_path(path: PathKey) -> str:
    """``("phases", 1, "needs", 0)`` -> ``phases[1].needs[0]``, as operators navigate the file."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{shorten(part)!r}]"
    return text or ROOT_PATH


def shorten(text: str, limit: int = _MAX_SHOWN) -> str:
    """Keeps messages one line long whatever the file holds."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def damerau(a: str, b: str) -> int:
    """Edits from a to b, a swap of two neighbours counting one (optimal string alignment):
    the commonest typo (``lnit`` for ``lint``) is one edit, not two."""
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
    return row[-1]


def _allowed_edits(word: str) -> int:
    """Short words allow one edit, else suggestions are noise; longer ones two or three."""
    return 1 if len(word) <= 4 else 2 if len(word) <= 8 else 3


def close_matches(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` candidates close to a probable typo, the closest first.

    Ties go to a candidate with the same letters (a pure transposition), then to one with the
    same first letter, then to file order."""
    options = list(dict.fromkeys(c for c in candidates if c != word))
    if not options or len(word) > 100:
        return []
    same_case = [o for o in options if o.lower() == word.lower()]
    folded = word.lower()
    allowed = _allowed_edits(word)
    scored: list[tuple[int, bool, bool, int, str]] = []
    for order, option in enumerate(options):
        if option in same_case or abs(len(option) - len(word)) > allowed:
            continue
        distance = damerau(folded, option.lower())
        if distance <= allowed and distance < max(len(word), len(option)):
            anagram = sorted(folded) == sorted(option.lower())
            first = option[:1].lower() == folded[:1]
            scored.append((distance, not anagram, not first, order, option))
    return (same_case + [option for *_, option in sorted(scored)])[:limit]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a probable typo, if any is close enough to be worth suggesting."""
    matches = close_matches(word, candidates, 1)
    return matches[0] if matches else None


def suggestion(word: str, candidates: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean 'x'?)``, `` (did you mean 'x', 'y' or 'z'?)`` or nothing."""
    matches = [repr(prefix + m) for m in close_matches(word, candidates)]
    if not matches:
        return ""
    listed = matches[0] if len(matches) == 1 else f"{', '.join(matches[:-1])} or {matches[-1]}"
    return f" (did you mean {listed}?)"


def describe(value: object) -> str:
    """A value as an operator reads it in a message: kind first, then a short rendering."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {shorten(value)!r}" if value else "empty text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


@dataclass
class SourceMap:
    """Where each value of the loaded data came from, so any later check can point at a line."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)
    """Plain scalars that YAML read as a number, boolean or null: the text the operator wrote."""
    bad: set[PathKey] = field(default_factory=set)
    """Paths already reported while reading the YAML; validation stays quiet about them."""

    def locate(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """The value's position (or its key's), else the nearest enclosing value's."""
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def error(
        self, path: PathKey, message: str, hint: str = "", *, key: bool = False
    ) -> LocatedError:
        line, col = self.locate(path, key=key)
        return LocatedError(self.file, line, col, format_path(path), message, hint)

    def is_bad(self, path: PathKey) -> bool:
        return any(path[:i] in self.bad for i in range(len(path) + 1))


def ordered(errors: Iterable[LocatedError]) -> list[LocatedError]:
    """Top-to-bottom, whole-file errors first, each reported once."""
    unique = list(dict.fromkeys(errors))
    return sorted(unique, key=lambda e: (e.line, e.col))


_SYNTAX_HINTS = {
    "tab": "indent with spaces; YAML does not allow tabs for indentation",
    "mapping values are not allowed": "a value that contains ': ' must be quoted",
    "could not find expected ':'": "a key needs ': ' after it; check this line and the one above",
    "did not find expected key": "check this line's indentation against the lines above",
    "undefined alias": "define the anchor (&name) before using it (*name)",
    "another document": "a pipeline file holds one document; remove the extra '---'",
    "unknown escape": "in double quotes a backslash starts an escape; use single quotes instead",
}
_CHAR_HINTS = {
    "\t": "indent with spaces; YAML does not allow tabs here",
    "@": "quote values that start with @",
    "`": "quote values that start with `",
    "%": "quote values that start with %",
}


def syntax_error(exc: yaml.YAMLError, text: str, name: str) -> LocatedError:
    """The parser's own position and words, plus a hint for the usual slips."""
    if isinstance(exc, yaml.reader.ReaderError):
        offset = max(text.find(chr(exc.character)), 0) if isinstance(exc.character, int) else 0
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return LocatedError(
            name,
            line,
            col,
            FILE_PATH,
            f"character U+{exc.character:04X} is not allowed in YAML"
            if isinstance(exc.character, int)
            else f"unreadable character: {exc.reason}",
            "remove the control character",
        )
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = next((h for key, h in _SYNTAX_HINTS.items() if key in problem), "")
    if mark is not None and "cannot start any token" in problem:
        rows = text.split("\n")
        row = rows[mark.line] if 0 <= mark.line < len(rows) else ""
        hint = _CHAR_HINTS.get(row[mark.column : mark.column + 1], hint)
    if mark is None:
        return LocatedError(name, 1, 1, FILE_PATH, message, hint)
    return LocatedError(name, mark.line + 1, mark.column + 1, FILE_PATH, message, hint)
