"""Conditions a check's answer must meet, written as Gatus writes them: ``status == 200``,
``response_time < 300ms``, ``body.status == "ok"`` (``[STATUS] == 200`` and ``[BODY].status ==
UP`` too).

Parsed once when the pipeline file is validated (a bad one is a located error with a hint), then
evaluated against each answer's facts; pure Python, so validating a file loads no checker.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SUBJECTS: dict[str, tuple[str, ...]] = {
    "http": ("status", "response_time", "body", "header", "connected"),
    "tcp": ("connected", "response_time"),
    "command": ("exit", "output", "response_time"),
}
"""What each kind of check can be asked about (``body.FIELD`` and ``header.NAME`` take a path)."""
DEFAULTS: dict[str, tuple[str, ...]] = {
    "http": ("status == 200",),
    "tcp": ("connected == true",),
    "command": ("exit == 0",),
}
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "not contains", "contains")
_NUMERIC = ("<", "<=", ">", ">=")
_CONDITION = re.compile(
    r"^\s*(?P<left>\[?[A-Za-z_][A-Za-z0-9_]*\]?(?:\.[A-Za-z0-9_-]+|\[\d+\])*)\s*"
    r"(?P<op>==|!=|<=|>=|<|>|not\s+contains\b|contains\b)\s*(?P<right>.*?)\s*$",
    re.IGNORECASE,
)
_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
_TIME = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s)?$")


class ConditionError(ValueError):
    """A condition that cannot be read; the message says what is expected."""


@dataclass
class Facts:
    """What one check saw; a condition reads only these."""

    response_ms: float = 0.0
    connected: bool = False
    status: int | None = None  # HTTP
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    exit: int | None = None  # command
    output: str = ""
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    def json(self) -> Any:
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.body)
            except ValueError:
                self._json = _MISSING
        return self._json


_MISSING = object()


@dataclass(frozen=True)
class Condition:
    text: str
    subject: str
    path: tuple[str | int, ...]
    op: str
    value: Any

    def check(self, facts: Facts) -> tuple[bool, str]:
        """(met, what was seen), the second for the operator: ``status 503, expected == 200``."""
        seen = self._seen(facts)
        if seen is _MISSING:
            return False, f"{self.label} is missing (expected {self.op} {self._shown_value()})"
        met = _compare(seen, self.op, self.value)
        if met:
            return True, ""
        return False, f"{self.label} is {_shown(seen)}, expected {self.op} {self._shown_value()}"

    @property
    def label(self) -> str:
        text = self.subject
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text

    def _shown_value(self) -> str:
        if self.subject == "response_time":
            return f"{self.value:g}ms"
        return _shown(self.value)

    def _seen(self, facts: Facts) -> Any:
        subject = self.subject
        if subject == "status":
            return _MISSING if facts.status is None else facts.status
        if subject == "response_time":
            return facts.response_ms
        if subject == "connected":
            return facts.connected
        if subject == "exit":
            return _MISSING if facts.exit is None else facts.exit
        if subject == "output":
            return facts.output
        if subject == "header":
            return facts.headers.get(str(self.path[0]).lower(), _MISSING)
        if not self.path:  # body
            return facts.body.decode(errors="replace")
        value = facts.json()
        for part in self.path:
            in_list = isinstance(part, int) and isinstance(value, list) and part < len(value)
            if in_list or (isinstance(part, str) and isinstance(value, dict) and part in value):
                value = value[part]
            else:
                return _MISSING
        return value


def parse(text: str, kind: str) -> Condition:
    """One condition for a check of ``kind`` (http, tcp, command); ConditionError says why not."""
    match = _CONDITION.match(text)
    if match is None:
        raise ConditionError(
            f"cannot read the condition {text!r}: write SUBJECT OPERATOR VALUE, e.g. "
            f"{DEFAULTS[kind][0]!r} (operators: {', '.join(OPERATORS)})"
        )
    left, op, right = match["left"], " ".join(match["op"].lower().split()), match["right"]
    head = re.match(r"\[?([A-Za-z_][A-Za-z0-9_]*)\]?", left)
    assert head is not None
    subject = head[1].lower()
    path: tuple[str | int, ...] = tuple(
        int(index) if index else name for name, index in _PATH_PART.findall(left[head.end() :])
    )
    known = SUBJECTS[kind]
    if subject not in known:
        close = difflib.get_close_matches(subject, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConditionError(
            f"a {kind} check cannot be asked about {subject!r}{hint}; it knows "
            + ", ".join(
                f"{s}.FIELD" if s == "body" else f"{s}.NAME" if s == "header" else s for s in known
            )
        )
    if subject == "header" and len(path) != 1:
        raise ConditionError("write header.NAME, e.g. header.content-type contains json")
    if subject not in ("body", "header") and path:
        raise ConditionError(f"{subject} has no fields: write {subject} {op} VALUE")
    if not right:
        raise ConditionError(f"{text!r} has nothing to compare with after {op!r}")
    value = _value(right, subject)
    if op in _NUMERIC and not isinstance(value, int | float):
        raise ConditionError(f"{op} compares numbers; {right!r} is not one")
    return Condition(text.strip(), subject, path, op, value)


def _value(text: str, subject: str) -> Any:
    if subject == "response_time":
        found = _TIME.match(text.lower())
        if found is None:
            raise ConditionError(
                f"response_time is compared with a time such as 300ms or 1.5s, got {text!r}"
            )
        number = float(found[1])
        return number * 1000 if found[2] == "s" else number  # a bare number is ms, as in Gatus
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # a bare word is a string: [BODY].status == UP


def _compare(seen: Any, op: str, want: Any) -> bool:
    if op in ("contains", "not contains"):
        found = want in seen if isinstance(seen, dict | list) else str(want) in _text(seen)
        return found if op == "contains" else not found
    if op in ("==", "!="):
        same = _equal(seen, want)
        return same if op == "==" else not same
    number = _number(seen)
    if number is None:
        return False
    return {
        "<": number < want,
        "<=": number <= want,
        ">": number > want,
        ">=": number >= want,
    }[op]


def _equal(seen: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(seen, bool):
        return seen is want or (isinstance(seen, str) and seen.lower() == str(want).lower())
    if want is None:
        return seen is None
    if isinstance(want, int | float):
        number = _number(seen)
        return number is not None and number == want
    return _text(seen) == want


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...")
    return _text(value)
