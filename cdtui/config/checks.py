"""Checks that span fields: names, needs, hosts, project paths and secrets.

They read the loaded data rather than the model, so they still run (and report) when validation
failed elsewhere in the file; anything malformed is skipped here because validation reports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from cdtui.config.errors import (
    LocatedError,
    PathKey,
    SourceMap,
    did_you_mean,
    shorten,
    suggestion,
)
from cdtui.config.models import ENV_NAME_PATTERN
from cdtui.config.secrets import secret_problem


@dataclass
class _Phase:
    index: int
    name: str | None
    stages: dict[str, int] = field(default_factory=dict)
    """Stage name -> index of its first definition."""
    needs: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Stage name -> (needed name, index in needs) for needs naming stages of this phase."""


def check_structure(data: dict, source: SourceMap) -> list[LocatedError]:
    """Duplicate names, unknown or misplaced needs, self-needs and needs cycles."""
    phases = data.get("phases")
    if not isinstance(phases, list):
        return []
    errors: list[LocatedError] = []
    seen: list[_Phase] = []
    phase_lines: dict[str, int] = {}
    for index, raw in enumerate(phases):
        phase = _Phase(index, _name(raw))
        if phase.name is not None:
            path: PathKey = ("phases", index, "name")
            if phase.name in phase_lines:
                errors.append(_duplicate(source, path, "phase", phase.name, phase_lines))
            else:
                phase_lines[phase.name] = source.locate(path)[0]
        errors += _collect_stages(raw, phase, source)
        seen.append(phase)
    for phase in seen:
        errors += _check_needs(phases[phase.index], phase, seen, source)
        errors += _check_cycles(phase, source)
    errors += _check_hosts(data, phases, source)
    errors += _check_paths(phases, source)
    return errors


_PATH_HINTS = {
    "artifacts": "artifacts are files inside the project, matched from the stage's cwd (the "
    "project dir by default), e.g. 'dist/*.whl'; copy a file built elsewhere into the project",
    "upload": "upload: sends project files, matched from the project dir, e.g. 'dist/*.pyz'",
    "cwd": "a local stage's cwd is a directory inside the project, relative to it (e.g. 'app'); "
    "only a remote (on:) stage's cwd names a directory of its own, on its hosts",
}


def _leaves_project(value: str) -> str:
    """Why a project-relative path or pattern is not one ('' when it is)."""
    if value.startswith(("/", "~")):
        return "is an absolute path"
    if ".." in PurePosixPath(value).parts:
        return "leaves the project with '..'"
    return ""


def _check_paths(phases: list, source: SourceMap) -> list[LocatedError]:
    """``artifacts:``, ``upload:`` and a local stage's ``cwd`` stay inside the project: an absolute
    or ``..`` path here would keep or send files from anywhere on the machine."""
    errors: list[LocatedError] = []
    for p_index, raw_phase in enumerate(phases):
        for s_index, raw in enumerate(_stages(raw_phase)):
            if not isinstance(raw, dict):
                continue
            stage: PathKey = ("phases", p_index, "stages", s_index)
            found: list[tuple[str, PathKey, object]] = []
            for field_name in ("artifacts", "upload"):
                values = raw.get(field_name)
                if isinstance(values, dict):  # artifacts: {name: pattern | {path: pattern}}
                    values = {
                        k: v.get("path") if isinstance(v, dict) else v for k, v in values.items()
                    }
                    found += [(field_name, (*stage, field_name, k), v) for k, v in values.items()]
                elif isinstance(values, list):
                    found += [
                        (
                            field_name,
                            (*stage, field_name, i),
                            v.get("path") if isinstance(v, dict) else v,
                        )
                        for i, v in enumerate(values)
                    ]
            if not raw.get("on"):
                found.append(("cwd", (*stage, "cwd"), raw.get("cwd")))
            for field_name, path, value in found:
                if isinstance(value, str) and (why := _leaves_project(value)):
                    message = f"{shorten(value)!r} {why}: {field_name} must stay inside the project"
                    errors.append(source.error(path, message, _PATH_HINTS[field_name]))
    return errors


def _check_hosts(data: dict, phases: list, source: SourceMap) -> list[LocatedError]:
    """Every ``on:`` entry names an inventory host, or a tag that at least one host carries."""
    hosts = data.get("hosts")
    hosts = hosts if isinstance(hosts, dict) else {}
    tags = {
        tag
        for host in hosts.values()
        if isinstance(host, dict) and isinstance(host.get("tags"), list)
        for tag in host["tags"]
        if isinstance(tag, str)
    }
    errors: list[LocatedError] = []
    for p_index, raw_phase in enumerate(phases):
        for s_index, raw in enumerate(_stages(raw_phase)):
            targets = raw.get("on") if isinstance(raw, dict) else None
            if isinstance(targets, str):
                targets, single = [targets], True
            else:
                single = False
            if not isinstance(targets, list):
                continue
            for t_index, target in enumerate(targets):
                if not isinstance(target, str):
                    continue
                path: PathKey = ("phases", p_index, "stages", s_index, "on")
                if not single:
                    path = (*path, t_index)
                if target.startswith("tag:"):
                    if target[4:] not in tags:
                        message = f"no host has the tag {shorten(target[4:])!r}"
                        message += suggestion(target[4:], sorted(tags), prefix="tag:")
                        errors.append(source.error(path, message, "tags come from hosts.*.tags"))
                elif target not in hosts:
                    match = did_you_mean(target, list(hosts))
                    message = f"unknown host {shorten(target)!r}{suggestion(target, list(hosts))}"
                    hint = f"hosts: {', '.join(hosts) or 'none defined (add a hosts: section)'}"
                    errors.append(source.error(path, message, "" if match else hint))
    return errors


def check_secret_refs(
    data: dict, source: SourceMap, environ: Mapping[str, str]
) -> list[LocatedError]:
    """Each secret's environment variable is set and long enough to be masked safely."""
    secrets = data.get("secrets")
    if not isinstance(secrets, dict):
        return []
    errors: list[LocatedError] = []
    for name, ref in secrets.items():
        if not isinstance(ref, dict):
            continue
        env, optional = ref.get("env"), ref.get("optional", False)
        if not isinstance(env, str) or not re.match(ENV_NAME_PATTERN, env):
            continue
        problem = secret_problem(env, environ.get(env), optional is True)
        if problem is not None:
            errors.append(source.error(("secrets", name, "env"), *problem))
    return errors


def _name(raw: object) -> str | None:
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) else None


def _stages(raw: object) -> list[object]:
    stages = raw.get("stages") if isinstance(raw, dict) else None
    return stages if isinstance(stages, list) else []


def _duplicate(
    source: SourceMap, path: PathKey, what: str, name: str, first: dict[str, int]
) -> LocatedError:
    return source.error(
        path,
        f"duplicate {what} name {shorten(name)!r}",
        f"first used on line {first[name]}; {what} names must be unique",
    )


def _collect_stages(raw: object, phase: _Phase, source: SourceMap) -> list[LocatedError]:
    errors: list[LocatedError] = []
    lines: dict[str, int] = {}
    for index, stage in enumerate(_stages(raw)):
        name = _name(stage)
        if name is None:
            continue
        path: PathKey = ("phases", phase.index, "stages", index, "name")
        if name in phase.stages:
            errors.append(_duplicate(source, path, "stage", name, lines))
        else:
            phase.stages[name] = index
            lines[name] = source.locate(path)[0]
    return errors


def _check_needs(
    raw: object, phase: _Phase, phases: list[_Phase], source: SourceMap
) -> list[LocatedError]:
    errors: list[LocatedError] = []
    for index, stage in enumerate(_stages(raw)):
        name = _name(stage)
        needs = stage.get("needs") if isinstance(stage, dict) else None
        if name is None or not isinstance(needs, list) or phase.stages.get(name) != index:
            continue
        edges = phase.needs.setdefault(name, [])
        for position, need in enumerate(needs):
            if not isinstance(need, str):
                continue
            path: PathKey = ("phases", phase.index, "stages", index, "needs", position)
            if need == name:
                errors.append(
                    source.error(path, "a stage cannot need itself", "drop it from needs")
                )
            elif need in phase.stages:
                edges.append((need, position))
            else:
                errors.append(_unknown_need(source, path, need, name, phase, phases))
    return errors


def _unknown_need(
    source: SourceMap, path: PathKey, need: str, name: str, phase: _Phase, phases: list[_Phase]
) -> LocatedError:
    """Names the phase a misplaced need is in: an earlier one is implied, a later one impossible."""
    shown = shorten(need)
    for other in phases:
        if other is phase or need not in other.stages:
            continue
        where = f"phase {other.name!r}" if other.name else f"phase {other.index + 1}"
        if other.index < phase.index:
            return source.error(
                path,
                f"{shown!r} is a stage of the earlier {where}",
                "needs name stages of the same phase; an earlier phase has finished before this "
                "one starts, so this need is implied: drop it",
            )
        return source.error(
            path,
            f"{shown!r} is a stage of the later {where}, which runs after this one",
            "a stage can only need stages of its own phase; move one of the two stages or drop "
            "the need",
        )
    candidates = [stage for stage in phase.stages if stage != name]
    match = did_you_mean(need, candidates)
    message = f"unknown stage {shown!r}{suggestion(need, candidates)}"
    hint = "" if match else f"stages of this phase: {', '.join(candidates) or 'none other'}"
    return source.error(path, message, hint)


def _check_cycles(phase: _Phase, source: SourceMap) -> list[LocatedError]:
    """One error per cycle-bearing group of stages, naming one cycle through it in needs order."""
    errors: list[LocatedError] = []
    graph = {name: [need for need, _ in edges] for name, edges in phase.needs.items()}
    for group in _strongly_connected(graph):
        if len(group) < 2:
            continue
        start = min(group, key=phase.stages.__getitem__)
        cycle = _cycle_through(start, graph, group)
        nxt = cycle[1]
        position = next(pos for need, pos in phase.needs[start] if need == nxt)
        path: PathKey = ("phases", phase.index, "stages", phase.stages[start], "needs", position)
        errors.append(
            source.error(
                path,
                "needs cycle: " + " -> ".join(shorten(n) for n in cycle),
                "each of these stages waits for the next, so none can start; remove one need",
            )
        )
    return errors


def _strongly_connected(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm without recursion: a file may hold thousands of stages."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = graph.get(node, [])
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            for target in targets:
                if target in on_stack:
                    low[node] = min(low[node], low[target])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_through(start: str, graph: dict[str, list[str]], group: set[str]) -> list[str]:
    """The shortest cycle from start back to itself inside group, e.g. [a, b, c, a]."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for need in graph.get(node, []):
                if need == start:
                    cycle = [node]
                    while cycle[-1] != start:
                        cycle.append(parent[cycle[-1]])
                    return [*reversed(cycle), start]
                if need in group and need not in parent and need != start:
                    parent[need] = node
                    following.append(need)
        frontier = following
    return [start, start]
