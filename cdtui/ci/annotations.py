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


class GitHubReporter:
    """``::error`` per failed stage as it fails; the step summary when the run ends."""

    def __init__(self, out: TextIO | None = None, summary_path: str | None = None) -> None:
        self.out = out or sys.stdout
        self.summary_path = summary_path or os.environ.get("GITHUB_STEP_SUMMARY", "")
        self.rows: dict[tuple[str, str], StageFinished] = {}
        self.pipeline_file = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageFinished) and not event.will_retry:
            self.rows[(event.phase, event.stage)] = event
            if event.status in FAILED:
                title = f"{event.phase} / {event.stage} {event.status.lower()}"
                self.out.write(command("error", event.reason or title, title=title) + "\n")
                self.out.flush()
        elif isinstance(event, RunFinished) and self.summary_path:
            self._summary(event)

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
