"""``${namespace.path}`` in a stage's command: values earlier stages of the run published.

Only a dotted reference to a known namespace is cdtui's (``${artifacts.wheel.path}``,
``${stages.version.outputs.version}``, ``${stack.WebUrl}``, ``${matrix.python}``); ``${HOME}`` and
every other shell expansion are left to the shell, and ``$${…}`` writes a literal ``${…}``. In a
shell string a value is substituted shell-quoted, so a path with a space stays one word.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

NAMESPACES = ("artifacts", "matrix", "stack", "stages")

_REFERENCE = re.compile(r"(\$?)\$\{\s*([A-Za-z_][\w-]*)((?:\.[\w-]+)+)\s*\}")


class InterpolationError(ValueError):
    """A reference names nothing this stage can see; the message says what is there instead."""


class Scope:
    """The run's published values, by namespace: ``publish("stack", "WebUrl", url)``."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {name: {} for name in NAMESPACES}

    def publish(self, namespace: str, key: str, value: Any) -> None:
        if namespace not in self._values:
            raise KeyError(f"unknown namespace {namespace!r} (known: {', '.join(NAMESPACES)})")
        self._values[namespace][key] = value

    def values(self, **layers: Mapping[str, Any]) -> dict[str, Any]:
        """The run's values with a stage's own layered on top (its ``matrix`` values)."""
        view: dict[str, Any] = {name: dict(found) for name, found in self._values.items()}
        for namespace, layer in layers.items():
            view.setdefault(namespace, {}).update(layer)
        return view


def references(text: str) -> list[str]:
    """Every cdtui reference in ``text`` (dotted, known namespace), for validation."""
    return [
        f"{m.group(2)}{m.group(3)}"
        for m in _REFERENCE.finditer(text)
        if not m.group(1) and m.group(2) in NAMESPACES
    ]


def lookup(values: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``a.b.c``; an error naming the first missing part and what exists there."""
    here: Any = values
    walked: list[str] = []
    for part in dotted.split("."):
        if not isinstance(here, Mapping) or part not in here:
            where = ".".join(walked) or "namespace"
            known = sorted(map(str, here)) if isinstance(here, Mapping) else []
            raise InterpolationError(_missing(dotted, part, where, known))
        here = here[part]
        walked.append(part)
    if isinstance(here, Mapping):
        raise InterpolationError(
            f"${{{dotted}}} names a group, not a value: add one of {', '.join(sorted(here))}"
        )
    return here


def _missing(dotted: str, part: str, where: str, known: list[str]) -> str:
    text = f"${{{dotted}}}: {where} has no {part!r}"
    close = get_close_matches(part, known, n=1)
    if close:
        return f"{text}; did you mean {close[0]!r}?"
    if known:
        return f"{text} (it has: {', '.join(known[:8])})"
    return f"{text} (nothing published there yet: does the stage `needs:` the one that makes it?)"


def expand(text: str, values: Mapping[str, Any], *, shell: bool) -> str:
    """``text`` with each reference replaced; ``shell``: values are shell-quoted."""
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escaped, namespace, rest = match.groups()
        if escaped:
            return match.group(0)[1:]  # $${x.y} -> ${x.y}, literally
        if namespace not in NAMESPACES:
            if not shell:
                return match.group(0)
            close = get_close_matches(namespace, NAMESPACES, n=1)
            hint = f"; did you mean ${{{close[0]}{rest}}}?" if close else ""
            raise InterpolationError(
                f"${{{namespace}{rest}}}: {namespace!r} is not a cdtui namespace "
                f"({', '.join(NAMESPACES)}){hint}; write $${{...}} for a literal"
            )
        value = str(lookup(values, f"{namespace}{rest}"))
        return shlex.quote(value) if shell else value

    return _REFERENCE.sub(replace, text)


def expand_command(command: str | list[str], values: Mapping[str, Any]) -> str | list[str]:
    """A shell string is expanded quoted; an argv list element by element, as it is."""
    if isinstance(command, str):
        return expand(command, values, shell=True)
    return [expand(part, values, shell=False) for part in command]
