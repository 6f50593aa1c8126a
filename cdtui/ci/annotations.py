"""GitHub Actions workflow commands: ``::error`` for located pipeline errors and failed stages,
and a Markdown table appended to ``$GITHUB_STEP_SUMMARY`` when the run ends."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cdtui.config.durations import format_duration
from cdtui.engine.events import Event, RunFinished, StageFinished, Status

FAILED = (Status.FAILED, Status.TIMED_OUT, Status.INTERRUPTED, Status.CANCELLED)


def _data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as GitHub documents."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    props = ",".join(
        f"{k}={_property(str(v))}" for k, v in properties.items() if v not in ("", None)
    )
    return f"::{kind}{' ' + props if props else ''}::{_data(message)}"


def config_errors(errors: Iterable, out: TextIO | None = None) -> None:
    """Each located pipeline error as an annotation on its file and line."""
    out = out or sys.stdout
    for error in errors:
        message = f"{error.path}: {error.message}" if error.path else error.message
        if error.hint:
            message += f"\n{error.hint}"
        out.write(
            command(
                "error",
                message,
                file=_relative(error.file),
                line=error.line or None,
                col=error.col or None,
                title="cdtui pipeline file",
            )
            + "\n"
        )
    out.flush()


def _relative(path: str) -> str:
    """GitHub places annotations by path from the workspace root."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    try:
        return str(Path(path).resolve().relative_to(Path(workspace or os.getcwd()).resolve()))
    except ValueError:
        return path


def stage_lines(path: str) -> dict[tuple[str, str], int]:
    """(phase, stage) -> the line of the stage's ``name:`` in the pipeline file (a release
    phase's stage: its ``release:`` line); empty when the file does not read."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            root = yaml.compose(handle)
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[tuple[str, str], int] = {}
    for phase in _items(_value(root, "phases")):
        name = _value(phase, "name")
        if name is None:
            continue
        for stage in _items(_value(phase, "stages")):
            stage_name = _value(stage, "name")
            if stage_name is not None:
                found[(name.value, stage_name.value)] = stage_name.start_mark.line + 1
        release = _entry(phase, "release")
        if release is not None:
            found[(name.value, "release")] = release[0].start_mark.line + 1
    return found


def _entry(node, key: str) -> tuple | None:
    """(key node, value node) of ``key`` in a YAML mapping node, else None."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


def _value(node, key: str):
    found = _entry(node, key)
    return found[1] if found else None


def _items(node) -> list:
    import yaml

    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


class GitHubReporter:
    """``::error`` per failed stage as it fails (on the stage's line of the pipeline file);
    the step summary when the run ends."""

    def __init__(
        self,
        out: TextIO | None = None,
        summary_path: str | None = None,
        pipeline_file: str = "",
    ) -> None:
        self.out = out or sys.stdout
        self.summary_path = summary_path or os.environ.get("GITHUB_STEP_SUMMARY", "")
        self.rows: dict[tuple[str, str], StageFinished] = {}
        self.pipeline_file = pipeline_file
        self._lines: dict[tuple[str, str], int] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageFinished) and not event.will_retry:
            self.rows[(event.phase, event.stage)] = event
            if event.status in FAILED:
                self._annotate(event)
        elif isinstance(event, RunFinished) and self.summary_path:
            self._summary(event)

    def _annotate(self, event: StageFinished) -> None:
        title = f"{event.phase} / {event.stage} {event.status.lower()}"
        where: dict[str, object] = {}
        if self.pipeline_file:
            if self._lines is None:
                self._lines = stage_lines(self.pipeline_file)
            base = event.stage.split("[", 1)[0]  # a matrix leg: its stage's line
            line = self._lines.get((event.phase, event.stage)) or self._lines.get(
                (event.phase, base)
            )
            if line:
                where = {"file": _relative(self.pipeline_file), "line": line}
        self.out.write(command("error", event.reason or title, **where, title=title) + "\n")

    def _summary(self, final: RunFinished) -> None:
        icon = {Status.SUCCEEDED: "✅", Status.SKIPPED: "⏭️"}
        lines = [
            f"### cdtui run {final.run_id}: {final.status.lower()}",
            "",
            "| phase | stage | status | duration | reason |",
            "| --- | --- | --- | ---: | --- |",
        ]
        for (phase, stage), row in self.rows.items():
            mark = icon.get(row.status, "❌" if row.status in FAILED else "")
            took = format_duration(row.duration) if row.attempt else ""
            cells = [phase, stage, f"{mark} {row.status.lower()}", took, row.reason]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        if final.reason:
            lines += ["", _cell(final.reason)]
        with open(self.summary_path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]
