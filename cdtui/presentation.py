"""Status glyphs shared by the console and the headless renderer (one cell wide each)."""

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
