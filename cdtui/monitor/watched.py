"""One check as the monitor runs it (its clock, its recent results, its state) and what of it the
monitor's snapshot shares with the console."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdtui.monitor.checks import Result

if TYPE_CHECKING:
    from cdtui.config.monitor import CheckSpec
    from cdtui.monitor.conditions import Condition

SNAPSHOT_HISTORY = 30
LETTERS = {"ok": "o", "failed": "f", "no_answer": "n", "checker": "c"}
"""A check's recent outcomes in the snapshot, one letter each: 200 checks rewritten every second
by a monitor that runs for months must stay small (about 30 KB, not 300)."""


SLOTS = 10
"""Start times a second is cut into: checks spread over them make no burst of 200 connections
at once (the jitter), yet the loop wakes 10 times a second, not 200 (each wake-up costs)."""


def spread(index: int, count: int, interval: float) -> float:
    """Where check ``index`` of ``count`` starts: one of SLOTS over (at most) its first second."""
    slots = min(SLOTS, max(1, count))
    return (index % slots) / slots * min(interval, 1.0)


@dataclass
class Watched:
    """One check as the monitor runs it."""

    spec: CheckSpec
    conditions: list[Condition]
    interval: float
    history: deque[Result]
    state: str = "unknown"  # the last outcome
    target: str = ""  # the URL (or address) last checked: what alert actions and payloads name
    waiting: str = ""  # why it is not checked now (an idle colour not kept warm), for the view
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=600))  # seconds


def shared(watched: Watched) -> dict[str, Any]:
    """What the snapshot says of one check."""
    history = list(watched.history)[-SNAPSHOT_HISTORY:]
    return {
        "target": watched.waiting or watched.target or watched.spec.target,
        "kind": watched.spec.kind,
        "interval": watched.interval,
        "state": watched.state,
        "detail": history[-1].detail if history else "",
        "outcomes": "".join(LETTERS[r.outcome] for r in history),
        "ms": [round(r.latency_ms) for r in history],
    }
