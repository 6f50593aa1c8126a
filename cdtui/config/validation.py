"""Pydantic's validation errors in operator words, each located at the line it concerns."""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError

from cdtui.config.errors import (
    LocatedError,
    PathKey,
    SourceMap,
    describe,
    did_you_mean,
    shorten,
    suggestion,
)

_FIELD_HELP = {
    "phases": "a list of phases, each with a name and stages",
    "stages": "a list of stages, each with a name and run",
    "needs": "a list of stage names",
    "artifacts": "a list of file patterns",
    "tags": "a list of tags",
    "run": "a command string or a list of argument strings",
    "env": "a mapping of NAME: value",
    "secrets": "a mapping of NAME: {env: VARIABLE}",
    "hosts": "a mapping of host name: {address: ...}",
    "retries": "a retry count or a mapping like {count: 2, backoff: 1s}",
}
_ITEM_HELP = {
    "phases": "a phase (a mapping with name and stages)",
    "stages": "a stage (a mapping with name and run)",
    "needs": "a stage name",
    "artifacts": "a file pattern",
    "tags": "a tag",
    "run": "an argument string",
}
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}
_PATTERN_HELP = {
    r"^[A-Za-z0-9][A-Za-z0-9 _.&+-]*$": "a name that starts with a letter or digit and uses only "
    "letters, digits, spaces and _ . & + -",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name (letters, digits and _, "
    "not starting with a digit)",
}


def phrase_validation_error(
    error: dict, path: PathKey, fields: Sequence[str], source: SourceMap
) -> LocatedError:
    """One pydantic error as a located message; ``fields``: the keys the enclosing model knows."""
    kind: str = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    last = path[-1] if path else None
    if kind == "missing" and isinstance(last, str):
        help_ = _FIELD_HELP.get(last)
        message = f"missing required key '{last}'" + (f": {help_}" if help_ else "")
        return source.error(path, message)  # not in the file: located at the mapping that lacks it
    if kind == "extra_forbidden" and isinstance(last, str):
        return _unknown_key(path, last, value, fields, source)
    if kind in _EXPECTED:
        return source.error(
            path, expected_message(path, kind, value), _quote_hint(path, kind, value, source)
        )
    if kind == "value_error":
        return source.error(path, str(error["msg"]).removeprefix("Value error, "))
    if kind == "string_pattern_mismatch":
        wanted = _PATTERN_HELP.get(str(ctx.get("pattern")), f"text matching {ctx.get('pattern')}")
        return source.error(path, f"expected {wanted}, got {describe(value)}")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = suggestion(value, options) if isinstance(value, str) else ""
        message = f"expected {ctx.get('expected')}, got {describe(value)}{got}"
        return source.error(path, message, _quote_hint(path, kind, value, source))
    if kind in _BOUNDS:
        bound = ctx.get(_BOUNDS[kind][0])
        return source.error(
            path, f"expected a number {_BOUNDS[kind][1]} {bound}, got {describe(value)}"
        )
    if kind in ("too_short", "too_long", "string_too_long") and isinstance(
        value, list | dict | str
    ):
        return source.error(path, _length_message(kind, ctx, value))
    message = re.sub(r"^Input should be", "expected", str(error["msg"]))
    message = message[:1].lower() + message[1:]
    if not isinstance(value, list | dict):
        message += f", got {describe(value)}"
    return source.error(path, message)


FOREIGN_KEYS: dict[str, tuple[str | None, str]] = {
    "working-directory": ("cwd", "cwd: {value} (relative to the project)"),
    "timeout-minutes": ("timeout", "durations name their unit: timeout: {value}m"),
    "continue-on-error": ("continue_on_error", "continue_on_error: {value}"),
    "allow_failure": ("continue_on_error", "continue_on_error: {value}"),
    "runs-on": (None, "stages run here unless on: names hosts (or tag:NAME) from hosts:"),
    "script": ("run", "run: | with one shell line per line"),
    "steps": ("stages", "stages: a list of {name, run}"),
    "jobs": ("phases", "phases: a list of {name, stages}"),
    "uses": (None, "write the step's work as a run: command"),
    "with": (None, "pass values with env: NAME: value"),
    "shell": (None, "run: TEXT runs in bash; run: [argv] runs without a shell"),
}
"""Keys that GitHub Actions (and GitLab CI) users write, and cdtui's word for each, if any."""


def _unknown_key(
    path: PathKey, key: str, value: object, fields: Sequence[str], source: SourceMap
) -> LocatedError:
    """Another CI tool's word gets cdtui's (or "none"); a typo gets up to three candidates."""
    foreign = FOREIGN_KEYS.get(key)
    if foreign is not None and (foreign[0] is None or foreign[0] in fields):
        word, hint = foreign
        shown = shorten(str(value).lower() if isinstance(value, bool) else str(value), 30)
        hint = hint.format(value=shown if isinstance(value, str | int | float) else "...")
        said = f"cdtui's key is {word!r}" if word else "cdtui has no such key"
        return source.error(path, f"unknown key {key!r} ({said})", hint, key=True)
    snake = key.replace("-", "_")
    if snake != key and snake in fields:
        return source.error(
            path, f"unknown key {shorten(key)!r} (did you mean {snake!r}?)", key=True
        )
    hint = "" if did_you_mean(key, fields) else f"known keys here: {', '.join(fields)}"
    return source.error(
        path, f"unknown key {shorten(key)!r}{suggestion(key, fields)}", hint, key=True
    )


def expected_message(path: PathKey, kind: str, value: object) -> str:
    """``expected a list of stage names, got the text 'build'``: the field's shape, not its type."""
    last = path[-1] if path else None
    wanted = None
    if isinstance(last, str):
        wanted = _FIELD_HELP.get(last)
    elif isinstance(last, int) and len(path) >= 2 and isinstance(path[-2], str):
        wanted = _ITEM_HELP.get(path[-2])
    return (
        f"expected {wanted or _EXPECTED.get(kind, 'another kind of value')}, got {describe(value)}"
    )


def _quote_hint(path: PathKey, kind: str, value: object, source: SourceMap) -> str:
    raw = source.raw.get(path)
    if kind not in ("string_type", "literal_error") or raw is None:
        return ""
    return f'YAML reads {shorten(raw)} as {describe(value)}, not text; quote it: "{shorten(raw)}"'


def _length_message(kind: str, ctx: dict, value: list | dict | str) -> str:
    if kind == "too_short" and not value:
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} entries, has {len(value)}"
    return f"is too long: at most {ctx.get('max_length')} allowed, got {len(value)}"


@dataclass(frozen=True)
class _Step:
    """Where a pydantic ``loc`` lands in the loaded data."""

    path: PathKey
    fields: tuple[str, ...]
    union: PathKey | None = None
    arm: object = None


def validation_errors(
    exc: ValidationError, data: object, source: SourceMap, model: type[BaseModel]
) -> list[LocatedError]:
    """Every pydantic error, located; a union's failed alternatives fold into the one that fits."""
    located: list[LocatedError] = []
    unions: dict[PathKey, list[tuple[_Step, dict]]] = {}
    for error in exc.errors(include_url=False):
        step = _resolve(error, data, model)
        if source.is_bad(step.path):
            continue
        if step.union is None:
            located.append(phrase_validation_error(error, step.path, step.fields, source))
        else:
            unions.setdefault(step.union, []).append((step, error))
    for union_path, steps in unions.items():
        value = _value_at(data, union_path)
        fitting = [(step, error) for step, error in steps if _fits(step.arm, value)]
        for step, error in fitting:
            located.append(phrase_validation_error(error, step.path, step.fields, source))
        if not fitting:
            last = union_path[-1] if union_path else None
            wanted = _FIELD_HELP.get(last) if isinstance(last, str) else None
            arms = " or ".join(
                dict.fromkeys(str(error["loc"][len(union_path)]) for _, error in steps)
            )
            located.append(
                source.error(union_path, f"expected {wanted or arms}, got {describe(value)}")
            )
    return located


def _resolve(error: dict, data: object, model: type[BaseModel]) -> _Step:
    """Follows ``loc`` through data and model together; union branch names are not in the data."""
    loc = error["loc"]
    tp: object = model
    cur = data
    path: list[str | int] = []
    fields: tuple[str, ...] = ()
    union: PathKey | None = None
    arm: object = None
    for i, part in enumerate(loc):
        arms = _arms(tp)
        if len(arms) > 1 and isinstance(part, str):
            if union is None:
                union, arm = tuple(path), _arm_named(arms, part)
            tp = _arm_named(arms, part)
            continue
        base = arms[0] if arms else None
        if i == len(loc) - 1:
            fields = _field_names(base)
        tp = _child(base, part)
        found, child = _step_into(cur, part)
        if found:
            path.append(part)
            cur = child
        elif error["type"] == "missing" and isinstance(cur, dict) and i == len(loc) - 1:
            path.append(part)
    return _Step(tuple(path), fields, union, arm)


def _arms(tp: object) -> list[object]:
    if tp is None:
        return []
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        return [_arms(arm)[0] for arm in get_args(tp) if arm is not type(None)]
    return [tp]


def _arm_named(arms: list[object], tag: str) -> object:
    for arm in arms:
        if str(arm) == tag or (get_origin(arm) is None and getattr(arm, "__name__", None) == tag):
            return arm
    for arm in arms:
        origin = get_origin(arm)
        if origin is not None and tag.startswith(f"{getattr(origin, '__name__', '')}["):
            return arm
    return None


def _child(tp: object, part: str | int) -> object:
    if isinstance(tp, type) and issubclass(tp, RootModel):  # steps: a list at the kind's key
        return _child(tp.model_fields["root"].annotation, part)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return _kind_models(tp).get(part) if isinstance(part, str) else None
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and isinstance(part, int) and args:
        return args[0]
    if origin is dict and isinstance(part, str) and len(args) == 2:
        return args[1]
    return None


def _field_names(tp: object) -> tuple[str, ...]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        own = tuple(info.alias or name for name, info in tp.model_fields.items())
        return own + tuple(k for k in _kind_models(tp) if k not in own)
    return ()


def _kind_models(tp: type[BaseModel]) -> dict[str, object]:
    """A stage also knows every registered kind's key (``load:``, ``ansible:``, ...)."""
    from cdtui.config.models import Stage

    if not issubclass(tp, Stage):
        return {}
    from cdtui.config.kinds import yaml_kinds

    return {key: kind.model for key, kind in yaml_kinds().items() if kind.model is not None}


def _fits(arm: object, value: object) -> bool:
    """Whether a value has the shape of a union alternative (a list for ``list[str]``, ...)."""
    base = get_origin(arm) or arm
    if base is list:
        return isinstance(value, list)
    if base is dict or (isinstance(base, type) and issubclass(base, BaseModel)):
        return isinstance(value, dict)
    if base is bool:
        return isinstance(value, bool)
    if base in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return base is str and isinstance(value, str)


def _value_at(data: object, path: PathKey) -> object:
    for part in path:
        found, data = _step_into(data, part)
        if not found:
            return None
    return data


def _step_into(data: object, part: str | int) -> tuple[bool, object]:
    if isinstance(data, dict) and part in data:
        return True, data[part]
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return True, data[part]
    return False, None
