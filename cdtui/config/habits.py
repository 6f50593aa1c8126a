"""Habits from other CI tools that would pass validation and then fail at run time.

People who write GitHub Actions or GitLab CI files bring two shapes that mean something else
here: ``run:`` as a list of shell lines (a list is one command's argv in cdtui) and ``${{ }}``
expressions (never expanded: bash fails on them). Each gets a located error with cdtui's way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cdtui.config.errors import LocatedError, PathKey, SourceMap, shorten

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
_COMMAND_LINE = re.compile(r"^(?:\.{0,2}/)?[A-Za-z_][\w.+-]*(?:/[\w.+-]+)*\s+\S")
"""A program name, then a space, then more: ``npm ci``, ``cd app && make``, ``./x.sh -v``."""
_SHELL_SYNTAX = re.compile(r"&&|\|\||[|;<>`]|\$\(|\$\{?[A-Za-z_]")
_TAKES_A_COMMAND_LINE = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "ssh", "su"})
"""Programs whose arguments may be a shell line on purpose (``[ssh, host, "cd /app && make"]``)."""


def check_habits(data: dict, source: SourceMap) -> list[LocatedError]:
    """Argv lists that hold shell lines, and ``${{ }}`` anywhere in a value."""
    errors: list[LocatedError] = []
    for path, field, argv in _argv_lists(data):
        if not source.is_bad(path):
            found = _shell_line_in_argv(argv)
            if found is not None:
                errors.append(_shell_line_error(source, (*path, found), field, argv, found))
    for path, text in _strings(data, ()):
        match = _EXPRESSION.search(text)
        if match is not None and not source.is_bad(path):
            errors.append(_expression_error(source, path, match.group(0), match.group(1)))
    return errors


def _argv_lists(data: dict) -> Iterator[tuple[PathKey, str, list[str]]]:
    """Every ``run:`` of a stage and ``deploy:`` of a colour that is a list of text."""
    phases = data.get("phases")
    for p, phase in enumerate(phases if isinstance(phases, list) else []):
        if not isinstance(phase, dict):
            continue
        stages = phase.get("stages")
        for s, stage in enumerate(stages if isinstance(stages, list) else []):
            if isinstance(stage, dict) and _texts(stage.get("run")):
                yield ("phases", p, "stages", s, "run"), "run", stage["run"]
        release = phase.get("release")
        for colour in ("blue", "green"):
            spec = release.get(colour) if isinstance(release, dict) else None
            if isinstance(spec, dict) and _texts(spec.get("deploy")):
                path: PathKey = ("phases", p, "release", colour, "deploy")
                yield path, "deploy", spec["deploy"]


def _texts(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _shell_line_in_argv(argv: list[str]) -> int | None:
    """The index of an item that reads as a shell command line rather than one argument.

    The program name (item 0) never holds a space unless it is a path (``/opt/My App/tool``)
    without shell syntax. A later item counts when it starts like a command, holds shell syntax,
    is not an option's value (``-c "a && b"``, ``-m "fix: a > b"``) and the program is not one
    that takes a command line (``bash``, ``ssh``): ``[jq, ".a | .b", f]`` is a real argv."""
    first = argv[0]
    if first != first.strip() or (
        any(c.isspace() for c in first)
        and not (_path_with_a_space(first) and not _SHELL_SYNTAX.search(first))
    ):
        return 0
    if first.rsplit("/", 1)[-1] in _TAKES_A_COMMAND_LINE:
        return None
    for index in range(1, len(argv)):
        item = argv[index]
        if (
            _COMMAND_LINE.match(item)
            and _SHELL_SYNTAX.search(item)
            and not argv[index - 1].startswith("-")
        ):
            return index
    return None


def _path_with_a_space(text: str) -> bool:
    """``/opt/My Tools/bin/tool``: the space is inside the path, not before an argument."""
    last_space = max(text.rfind(" "), text.rfind("\t"))
    return text.startswith(("/", "./")) and "/" in text[last_space:]


def _shell_line_error(
    source: SourceMap, path: PathKey, field: str, argv: list[str], index: int
) -> LocatedError:
    item = shorten(argv[index].strip())
    if index == 0:
        message = (
            f"{field}: is a list, so it is one command's arguments, run without a shell: "
            f"{item!r} would be the name of the program"
        )
    else:
        message = (
            f"{item!r} looks like a shell command line, but in a {field}: list it is one "
            f"argument of {shorten(argv[0])!r}, run without a shell"
        )
    plain = index == 0 and not _SHELL_SYNTAX.search(argv[0])
    split = ", ".join(argv[0].split()[:3]) if plain else ""
    hint = f"for several shell lines write '{field}: |' and one line per line below it"
    if split:
        hint += f"; for one command as a list, split it: [{split}, ...]"
    return source.error(path, message, hint)


_EXPRESSION_HINTS = {
    "secrets": "secrets reach stages as environment variables: declare secrets: "
    "{{{name}: {{env: {name}}}}} and write ${name}",
    "env": "write ${name} (set it under env:)",
    "vars": "write ${name} (set it under env:)",
    "matrix": "cdtui has no matrix yet: write one stage per value",
}


def _expression_error(source: SourceMap, path: PathKey, text: str, inner: str) -> LocatedError:
    context, _, name = inner.partition(".")
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", name)
    template = _EXPRESSION_HINTS.get(context.strip())
    if template is None or (name is None and context != "matrix"):
        hint = "cdtui has no equivalent: use environment variables ($NAME) set under env:"
    else:
        hint = template.format(name=name.group(0) if name else "")
    message = (
        f"{shorten(text)!r} is GitHub Actions expression syntax: cdtui does not expand it "
        "(bash would fail on it)"
    )
    return source.error(path, message, hint)


def _strings(value: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*path, index))
