"""Status glyphs shared by the console and the headless renderer (one cell wide each), and what
each means in words (the console's help explains the tree with them)."""

from __future__ import annotations

from cdtui.engine.events import Status

ICONS = {
    Status.PENDING: "·",
    Status.WAITING: "‖",
    Status.RUNNING: "▶",
    Status.SUCCEEDED: "✓",
    Status.FAILED: "✗",
    Status.TIMED_OUT: "◔",
    Status.CANCELLED: "■",
    Status.SKIPPED: "○",
    Status.BLOCKED: "‖",
    Status.INTERRUPTED: "!",
}
MEANINGS = {
    Status.PENDING: "not started (yet)",
    Status.WAITING: "waits at a gate (‖ gate: the phase needs an approval, a)",
    Status.RUNNING: "running",
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed: the tree says why (exit code), the log shows it",
    Status.TIMED_OUT: "timed out",
    Status.CANCELLED: "cancelled",
    Status.SKIPPED: "skipped: what it needed failed or was skipped",
    Status.BLOCKED: "blocked: nobody approved its gate",
    Status.INTERRUPTED: "interrupted: the cdtui driving it stopped",
}


def icon_legend() -> list[tuple[str, str]]:
    """(glyph, meaning) once per glyph, in the tree's order of a run."""
    seen: dict[str, str] = {}
    for status, glyph in ICONS.items():
        if glyph in seen:
            seen[glyph] += "; " + MEANINGS[status]
        else:
            seen[glyph] = MEANINGS[status]
    return list(seen.items())


def stage_outcome(status: Status, reason: str, exit_code: int | None) -> str:
    """Why a stage ended as it did, in the words headless prints: ``exit code 3``, ``needs 'a',
    which failed``; ``not started`` for one the run never reached; "" while it runs or passed."""
    if status in (Status.RUNNING, Status.SUCCEEDED, Status.WAITING):
        return ""
    if status is Status.PENDING:
        return "not started"
    if reason:
        return reason
    if exit_code is not None and exit_code != 0:
        return f"exit code {exit_code}"
    return status.lower().replace("_", " ")
