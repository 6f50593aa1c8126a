"""Load-time checks of the pipeline language that span fields.

``${stages.NAME.outputs.KEY}``: NAME must be a stage that has ended before the referrer starts
(one it ``needs``, directly or through others, or a stage of an earlier phase); ``${matrix.X}``
an axis of the stage's own matrix; ``steps:`` and ``checkout:`` are for local stages. A typo or
a missing ``needs:`` is a located error, not a failed run later."""

from __future__ import annotations

from collections.abc import Iterator

from cdtui.config.errors import LocatedError, PathKey, SourceMap, did_you_mean, suggestion
from cdtui.engine.interpolate import references


def _stages(phase: object) -> list[object]:
    stages = phase.get("stages") if isinstance(phase, dict) else None
    return stages if isinstance(stages, list) else []


def _name(stage: object) -> str | None:
    name = stage.get("name") if isinstance(stage, dict) else None
    return name if isinstance(name, str) else None


def texts(stage: dict, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Every string of a stage where a reference may be written, with its path."""
    run = stage.get("run")
    if isinstance(run, str):
        yield (*path, "run"), run
    elif isinstance(run, list):
        for index, part in enumerate(run):
            if isinstance(part, str):
                yield (*path, "run", index), part
    steps = stage.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and isinstance(step.get("run"), str):
            yield (*path, "steps", index, "run"), step["run"]
    artifacts = stage.get("artifacts")
    for where, entry in _artifact_paths(artifacts):
        yield (*path, "artifacts", *where), entry
    matrix = stage.get("matrix")
    if isinstance(matrix, str):
        yield (*path, "matrix"), matrix
    elif isinstance(matrix, dict):
        for axis, values in matrix.items():
            if isinstance(values, str):
                yield (*path, "matrix", axis), values


def _artifact_paths(artifacts: object) -> Iterator[tuple[PathKey, str]]:
    """The path of each ``artifacts:`` entry in any of its spellings (a string, a list of
    strings or ``{path: ...}``, or ``{NAME: path}``), with where it is written."""
    if isinstance(artifacts, str):
        yield (), artifacts
    elif isinstance(artifacts, list):
        for index, item in enumerate(artifacts):
            if isinstance(item, str):
                yield (index,), item
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                yield (index, "path"), item["path"]
    elif isinstance(artifacts, dict):
        for name, item in artifacts.items():
            if isinstance(item, str):
                yield (name,), item
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                yield (name, "path"), item["path"]


def check_stage_refs(data: dict, source: SourceMap) -> list[LocatedError]:
    phases = data.get("phases")
    if not isinstance(phases, list):
        return []
    errors: list[LocatedError] = []
    earlier: set[str] = set()
    everywhere = {_name(s) for p in phases for s in _stages(p)} - {None}
    for p_index, phase in enumerate(phases):
        stages = _stages(phase)
        needs = {}
        for stage in stages:
            name = _name(stage)
            raw = stage.get("needs") if isinstance(stage, dict) else None
            if name is not None:
                needs[name] = (
                    [n for n in raw if isinstance(n, str)] if isinstance(raw, list) else []
                )
        for s_index, stage in enumerate(stages):
            name = _name(stage)
            if name is None or not isinstance(stage, dict):
                continue
            before = earlier | _upstream(name, needs)
            errors += _local_only(stage, ("phases", p_index, "stages", s_index), source)
            axes = _axes(stage.get("matrix"))
            for path, text in texts(stage, ("phases", p_index, "stages", s_index)):
                for ref in references(text):
                    problem = _matrix_problem(ref, axes) or _problem(
                        ref, name, before, set(needs), everywhere
                    )
                    if problem:
                        errors.append(source.error(path, *problem))
        earlier |= set(needs)
    return errors


def _local_only(stage: dict, path: PathKey, source: SourceMap) -> list[LocatedError]:
    """steps: and checkout: work in this machine's files: not beside on: hosts."""
    if not stage.get("on"):
        return []
    found = []
    for key, why in (
        ("steps", "steps run on this machine; give each host stage a run: instead"),
        (
            "checkout",
            "a clean checkout is made on this machine; a remote stage's files are its hosts'",
        ),
    ):
        if key in stage:
            found.append(
                source.error((*path, key), f"{key}: cannot be used with on:", why, key=True)
            )
    return found


def _axes(matrix: object) -> set[str] | None:
    """The axes a stage's ``${matrix.X}`` may name; None: any (read at run time)."""
    from cdtui.config.matrix import KEYWORDS

    if matrix is None:
        return set()
    if not isinstance(matrix, dict):
        return None
    if any(isinstance(v, str) for k, v in matrix.items() if k not in KEYWORDS):
        return None
    found = {str(k) for k in matrix if k not in KEYWORDS}
    include = matrix.get("include")
    for entry in include if isinstance(include, list) else []:
        found |= {str(k) for k in entry} if isinstance(entry, dict) else set()
    return found


def _matrix_problem(ref: str, axes: set[str] | None) -> tuple[str, str] | None:
    parts = ref.split(".")
    if parts[0] != "matrix" or axes is None or (len(parts) == 2 and parts[1] in axes):
        return None
    if not axes:
        return (f"${{{ref}}}: this stage has no matrix", "add matrix: {AXIS: [values]}")
    if len(parts) != 2:
        return (f"${{{ref}}}: write ${{matrix.AXIS}}", f"axes: {', '.join(sorted(axes))}")
    return (
        f"${{{ref}}}: no axis {parts[1]!r}{suggestion(parts[1], sorted(axes))}",
        f"axes: {', '.join(sorted(axes))}",
    )


def _upstream(name: str, needs: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(needs.get(name, []))
    while todo:
        need = todo.pop()
        if need not in seen and need != name:
            seen.add(need)
            todo += needs.get(need, [])
    return seen


def _problem(
    ref: str, name: str, before: set[str], phase: set[str], everywhere: set[str]
) -> tuple[str, str] | None:
    parts = ref.split(".")
    if parts[0] != "stages":
        return None
    if len(parts) < 4 or parts[2] != "outputs":
        return (
            f"${{{ref}}}: write ${{stages.NAME.outputs.KEY}}",
            "a stage's outputs are the key=value lines it appends to $CDTUI_OUTPUT",
        )
    other = parts[1]
    if other == name:
        return (f"${{{ref}}}: a stage cannot read its own outputs", "use a shell variable")
    if other in before:
        return None
    if other in phase:
        return (
            f"${{{ref}}}: stage {name!r} does not need {other!r}, so it may start before "
            f"{other!r} has written its outputs",
            f"add needs: [{other}]",
        )
    if other in everywhere:
        return (
            f"${{{ref}}}: {other!r} is a stage of a later phase, which runs after this one",
            "a stage reads outputs of stages it needs or of earlier phases",
        )
    known = sorted(before | phase - {name})
    match = did_you_mean(other, known)
    hint = "" if match else f"stages it can read: {', '.join(known) or 'none (add needs:)'}"
    return (f"${{{ref}}}: no stage named {other!r}{suggestion(other, known)}", hint)
