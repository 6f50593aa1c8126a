"""A local command may decide it cannot run here and say so: exit 77 (automake's and meson's
"skipped" code), its last line of output the reason. The stage is then SKIPPED with that reason
in the tree, the summary and the record: never a silent pass, and the phase does not fail.

A stage that must not be skipped in CI fails instead (the sample's browser stage does, under
``CI=true``); the convention only lets a command tell "cannot run here" from "ran and failed".
"""

from __future__ import annotations

from dataclasses import replace

from cdtui.engine.events import Status
from cdtui.runners.local import ProcessResult

SKIP_EXIT_CODE = 77
MAX_REASON = 300
TAIL_BYTES = 4096


class LastLine:
    """Keeps the last non-empty line a process printed (either stream), for the reason."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, _stream: str, data: bytes, final: bool = False) -> None:
        if len(data) >= TAIL_BYTES:
            self._tail = data[-TAIL_BYTES:]
        elif data:
            self._tail = (self._tail + data)[-TAIL_BYTES:]

    @property
    def text(self) -> str:
        lines = [line.strip() for line in self._tail.decode("utf-8", "replace").splitlines()]
        said = next((line for line in reversed(lines) if line), "")
        return said[:MAX_REASON]


def skipped_if_asked(result: ProcessResult, last: LastLine) -> ProcessResult:
    """The result as SKIPPED when the command exited 77; unchanged otherwise."""
    if result.status is not Status.FAILED or result.exit_code != SKIP_EXIT_CODE:
        return result
    reason = last.text or f"the command exited {SKIP_EXIT_CODE} (skipped)"
    return replace(result, status=Status.SKIPPED, reason=reason)
