"""Finding lines in big spans of log text at C speed: what the operator sees, not the raw bytes.

A span is many lines joined by newlines; a match's line number is found by counting newlines
since the previous match, so a scan costs a few passes of ``str`` methods per MiB, not a Python
step per line. Literal, case-insensitive queries (the usual search) use ``str.find`` on lowered
text, several times faster than an ``re.IGNORECASE`` scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")
ERROR_PATTERN = re.compile(
    r"(?i:\b(?:error|errors|failed|failure|fatal|panic|traceback|exception)\b)"
    r"|[a-z](?:Error|Exception)\b"
)
_ERROR_WORDS = ("error", "fail", "fatal", "panic", "traceback", "exception")


def plain(text: str) -> str:
    """``text`` without ANSI escape sequences: what the operator sees and searches."""
    return ANSI_ESCAPE.sub("", text) if "\x1b" in text else text


def compile_pattern(text: str, regex: bool = False, ignore_case: bool = True) -> re.Pattern[str]:
    """The pattern for ``text`` (``^``/``$`` match at line ends, spans being many lines);
    raises ``re.error`` for a bad regular expression."""
    flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
    return re.compile(text if regex else re.escape(text), flags)


class Finder:
    """Where a query next matches in a prepared span (``prepare`` must keep every newline)."""

    def __init__(self, text: str, regex: bool = False, ignore_case: bool = True) -> None:
        self.pattern = compile_pattern(text, regex, ignore_case)
        self._lower = not regex and ignore_case
        self._needle: str | None = None if regex else (text.lower() if ignore_case else text)

    def prepare(self, span: str) -> str:
        span = plain(span)
        return span.lower() if self._lower else span

    def find(self, span: str, pos: int) -> int:
        if self._needle is not None:
            return span.find(self._needle, pos)
        match = self.pattern.search(span, pos)
        return -1 if match is None else match.start()


class PatternFinder(Finder):
    """A compiled pattern as is; ``words`` (lowercase) let spans that contain none be skipped."""

    def __init__(self, pattern: re.Pattern[str], words: tuple[str, ...] = ()) -> None:
        self.pattern = pattern
        self._needle = None
        self._words = words

    def prepare(self, span: str) -> str:
        if self._words:
            lowered = span.lower()
            if not any(word in lowered for word in self._words):
                return ""
        return plain(span)


def error_finder() -> Finder:
    return PatternFinder(ERROR_PATTERN, _ERROR_WORDS)


def matching_lines(finder: Finder, span: str, first: int, low: int, high: int) -> Iterator[int]:
    """Numbers (``low`` to ``high``) of the matching lines of ``span``, whose first is ``first``."""
    text = finder.prepare(span)
    line, pos = first, 0
    while (at := finder.find(text, pos)) >= 0:
        line += text.count("\n", pos, at)
        if line >= high:
            return
        if line >= low:
            yield line
        end = text.find("\n", at)
        if end < 0:
            return
        line, pos = line + 1, end + 1
