"""Stack events as the log shows them: one line each, the status coloured, and what a finished
operation means (success, or the failing resource, its reason and the rollback that followed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GREEN, RED, YELLOW, DIM, BOLD, RESET = (
    "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[1m", "\x1b[0m",
)  # fmt: skip
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"})
CANCELLED_REASONS = ("cancelled", "canceled")


def colour_of(status: str) -> str:
    if status.endswith("FAILED") or "ROLLBACK" in status:
        return RED
    if status.endswith("IN_PROGRESS"):
        return YELLOW
    if status in ("DELETE_COMPLETE", "DELETE_SKIPPED"):
        return DIM
    return GREEN


def coloured(status: str) -> str:
    return f"{colour_of(status)}{status}{RESET}"


def terminal(status: str) -> bool:
    """No operation is running on the stack (REVIEW_IN_PROGRESS: a change set waits)."""
    return not status.endswith("IN_PROGRESS") or status == "REVIEW_IN_PROGRESS"


def event_line(event: dict[str, Any]) -> str:
    at = event.get("Timestamp")
    when = at.strftime("%H:%M:%S") if hasattr(at, "strftime") else ""
    status = event.get("ResourceStatus", "?")
    reason = event.get("ResourceStatusReason") or ""
    resource = event.get("LogicalResourceId", "?")
    kind = event.get("ResourceType", "")
    tail = f"  {reason}" if reason else ""
    return f"{when}  {coloured(status):<40} {resource}  {DIM}{kind}{RESET}{tail}\n"


def change_lines(changes: list[dict[str, Any]]) -> list[str]:
    """The change set as a plan: ``+ Add``, ``~ Modify`` (replacement said), ``- Remove``."""
    marks = {"Add": (GREEN, "+"), "Modify": (YELLOW, "~"), "Remove": (RED, "-")}
    lines = []
    for change in changes:
        rc = change.get("ResourceChange", {})
        action = rc.get("Action", "?")
        colour, mark = marks.get(action, (YELLOW, "*"))
        replace = rc.get("Replacement")
        replacing = (
            f"  {RED}replacement: {replace}{RESET}" if replace in ("True", "Conditional") else ""
        )
        lines.append(
            f"  {colour}{mark} {action:<7}{RESET} {rc.get('LogicalResourceId', '?')}  "
            f"{DIM}{rc.get('ResourceType', '')}{RESET}{replacing}\n"
        )
    return lines


@dataclass
class Progress:
    """Resources done of the total the change set (or the stack) names."""

    total: int
    done: set[str] = field(default_factory=set)
    stack: str = ""

    def see(self, event: dict[str, Any]) -> bool:
        """Count the event; True when the done count changed."""
        resource = event.get("LogicalResourceId", "")
        status = event.get("ResourceStatus", "")
        if resource == self.stack or event.get("ResourceType") == "AWS::CloudFormation::Stack":
            return False
        if status.endswith("_COMPLETE") and resource not in self.done:
            self.done.add(resource)
            return True
        return False

    def text(self) -> str:
        return f"{min(len(self.done), self.total)} of {self.total} resources done"


def failure(stack: str, status: str, events: list[dict[str, Any]]) -> str:
    """Why the operation failed: the first failing resource and its reason, and the rollback."""
    failed = [
        e
        for e in events
        if e.get("ResourceStatus", "").endswith("FAILED")
        and e.get("LogicalResourceId") != stack
        and not any(
            word in (e.get("ResourceStatusReason") or "").lower() for word in CANCELLED_REASONS
        )
    ]
    rollback = [
        e["ResourceStatus"]
        for e in events
        if e.get("LogicalResourceId") == stack and "ROLLBACK" in e.get("ResourceStatus", "")
    ]
    text = f"stack {stack} {status}"
    if failed:
        first = failed[0]
        why = first.get("ResourceStatusReason") or "no reason given"
        text += (
            f": resource {first.get('LogicalResourceId')} ({first.get('ResourceType', '?')}) "
            f"{first.get('ResourceStatus')}: {why}"
        )
    if rollback:
        text += f"; rolled back: {' -> '.join(dict.fromkeys(rollback))}"
    return text
