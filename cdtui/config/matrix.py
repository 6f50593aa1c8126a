"""``matrix:`` on a stage: axes of values, ``include``/``exclude``, ``fail_fast``, ``max_parallel``.

Each combination is a leg: a stage of its own named ``name[axis=value,...]`` (the tree, history,
summary and ``--stage`` see it), its values as ``${matrix.AXIS}`` and ``CDTUI_MATRIX_AXIS``.
``include`` and ``exclude`` follow GitHub Actions: an exclude entry drops every combination it
matches; an include entry extends the axes' combinations it matches (on the axes it names) with
its other keys, overwriting what an earlier include added but never an axis value, or is added as
a combination of its own when it matches none (an include never extends another's combination).

An axis (or the whole matrix) may be ``${stages.NAME.outputs.KEY}``: a JSON list (or object) read
when the stage is about to start, the legs then announced by a ``StagesExpanded`` event.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

KEYWORDS = ("include", "exclude", "fail_fast", "max_parallel")
MAX_LEGS = 256


class MatrixError(ValueError):
    """A matrix that cannot be expanded; the message says which part and why."""


@dataclass(frozen=True)
class MatrixSpec:
    axes: dict[str, tuple[str, ...] | str]  # a str: a ${…} reference read at run time
    include: tuple[dict[str, str], ...] = ()
    exclude: tuple[dict[str, str], ...] = ()
    fail_fast: bool = True
    max_parallel: int | None = None
    source: str | None = None  # the whole matrix is one ${…} reference

    @property
    def dynamic(self) -> bool:
        return self.source is not None or any(isinstance(v, str) for v in self.axes.values())


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MatrixError(f"{where}: expected a text or number value, got {type(value).__name__}")


def _entries(value: Any, key: str) -> tuple[dict[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise MatrixError(f"{key}: expected a list of mappings like {{python: '3.12'}}")
    return tuple(
        {str(k): _scalar(v, f"{key}[{i}].{k}") for k, v in e.items()} for i, e in enumerate(value)
    )


def parse_spec(raw: Any) -> MatrixSpec:
    """The ``matrix:`` value as written (a mapping, or one ``${…}`` reference)."""
    if isinstance(raw, str):
        if "${" not in raw:
            raise MatrixError("a matrix is a mapping of axes, or ${stages.NAME.outputs.KEY}")
        return MatrixSpec({}, source=raw.strip())
    if not isinstance(raw, dict):
        raise MatrixError("expected a mapping of axis: [values]")
    axes: dict[str, tuple[str, ...] | str] = {}
    for key, value in raw.items():
        if key in KEYWORDS:
            continue
        if not isinstance(key, str) or not key.replace("_", "a").replace("-", "a").isalnum():
            raise MatrixError(f"{key!r} is not an axis name (letters, digits, _ and -)")
        if isinstance(key, str) and key.replace("-", "_") in KEYWORDS:
            raise MatrixError(f"{key!r}: did you mean {key.replace('-', '_')!r}?")
        if isinstance(value, str) and "${" in value:
            axes[key] = value.strip()
        elif isinstance(value, list) and value:
            axes[key] = tuple(_scalar(v, f"{key}[{i}]") for i, v in enumerate(value))
        else:
            raise MatrixError(f"{key}: expected a non-empty list of values")
    fail_fast = raw.get("fail_fast", True)
    if not isinstance(fail_fast, bool):
        raise MatrixError("fail_fast: expected true or false")
    max_parallel = raw.get("max_parallel")
    if max_parallel is not None and (
        isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1
    ):
        raise MatrixError("max_parallel: expected a whole number >= 1")
    spec = MatrixSpec(
        axes,
        _entries(raw.get("include"), "include"),
        _entries(raw.get("exclude"), "exclude"),
        fail_fast,
        max_parallel,
    )
    if not axes and not spec.include:
        raise MatrixError("a matrix needs at least one axis (or include entries)")
    if not spec.dynamic:
        legs(spec)  # errors (too many legs, nothing left) at load time
    return spec


def _matches(entry: dict[str, str], combo: dict[str, str], keys: set[str]) -> bool:
    return all(combo.get(k) == v for k, v in entry.items() if k in keys)


def legs(spec: MatrixSpec) -> list[dict[str, str]]:
    """Every combination, in axis order, after exclude and include."""
    axes = {k: v for k, v in spec.axes.items() if not isinstance(v, str)}
    names = list(axes)
    combos = (
        [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]
        if names
        else []
    )
    for entry in spec.exclude:
        unknown = set(entry) - set(names)
        if unknown:
            raise MatrixError(f"exclude names {', '.join(sorted(unknown))}, not an axis")
        combos = [c for c in combos if not _matches(entry, c, set(entry))]
    axis_keys = set(names)
    added: list[dict[str, str]] = []
    for entry in spec.include:  # GitHub's rule: only the axes' own values are never overwritten
        matched = False
        for combo in combos:  # the axes' combinations only, never one an include added
            if _matches(entry, combo, axis_keys):
                combo.update(entry)
                matched = True
        if not matched:
            added.append(dict(entry))
    combos += added
    if not combos:
        raise MatrixError("the matrix has no legs left (exclude removed every combination)")
    if len(combos) > MAX_LEGS:
        raise MatrixError(f"the matrix has {len(combos)} legs; at most {MAX_LEGS}")
    return combos


def leg_name(stage: str, values: dict[str, str]) -> str:
    return f"{stage}[{','.join(f'{k}={v}' for k, v in values.items())}]"


def resolve(spec: MatrixSpec, read: Any) -> MatrixSpec:
    """A dynamic spec made concrete: ``read(reference)`` gives the output text (JSON)."""

    def decode(reference: str) -> Any:
        text = read(reference)
        try:
            return json.loads(text)
        except (TypeError, ValueError) as error:
            raise MatrixError(f"{reference} is not JSON: {str(text)[:80]!r} ({error})") from None

    if spec.source is not None:
        whole = decode(spec.source)
        if isinstance(whole, list):
            raise MatrixError(
                f"{spec.source} is a JSON list: write it as an axis (matrix: {{axis: ${{…}}}})"
            )
        resolved = parse_spec(whole)
        return MatrixSpec(
            resolved.axes,
            resolved.include,
            resolved.exclude,
            resolved.fail_fast if "fail_fast" in whole else True,
            resolved.max_parallel,
        )
    axes: dict[str, tuple[str, ...] | str] = {}
    for key, value in spec.axes.items():
        if isinstance(value, str):
            found = decode(value)
            if not isinstance(found, list) or not found:
                raise MatrixError(f"{value} for axis {key!r}: expected a non-empty JSON list")
            axes[key] = tuple(_scalar(v, f"{key}[{i}]") for i, v in enumerate(found))
        else:
            axes[key] = value
    return MatrixSpec(axes, spec.include, spec.exclude, spec.fail_fast, spec.max_parallel)


def make_legs(stage: Any, spec: MatrixSpec) -> list[Any]:
    """The legs of ``stage`` (a ``Stage``) for a concrete ``spec``: copies named by their values."""
    made = []
    for values in legs(spec):
        leg = stage.model_copy(update={"name": leg_name(stage.name, values), "matrix": spec})
        leg._matrix_values = dict(values)
        leg._matrix_of = stage.name
        made.append(leg)
    return made


def expand_stages(stages: list[Any]) -> list[Any]:
    """Fixed matrices expanded in file order; a need of a matrix stage becomes all its legs."""
    expanded: list[Any] = []
    groups: dict[str, list[str]] = {}
    for stage in stages:
        if stage.matrix is None or stage.matrix.dynamic:
            expanded.append(stage)
            continue
        made = make_legs(stage, stage.matrix)
        groups[stage.name] = [leg.name for leg in made]
        expanded += made
    result = []
    for stage in expanded:
        if any(need in groups for need in stage.needs):
            needs = [leg for need in stage.needs for leg in groups.get(need, [need])]
            kept = (stage._matrix_values, stage._matrix_of)
            stage = stage.model_copy(update={"needs": needs})
            stage._matrix_values, stage._matrix_of = kept
        result.append(stage)
    return result
