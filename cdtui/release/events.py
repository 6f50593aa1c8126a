"""Release facts on the engine's event stream: weights moved, a colour was checked, state changed.

Small frozen dataclasses like the engine's own, so the console and the store read them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdtui.engine.events import Event


@dataclass(frozen=True, slots=True)
class WeightChanged(Event):
    """The router was asked for (applied=False) or read back with (applied=True) these weights."""

    blue: int
    green: int
    applied: bool


@dataclass(frozen=True, slots=True)
class HealthSampled(Event):
    """One health check of one colour; ``status`` is 0 when no HTTP answer came."""

    colour: str
    ok: bool
    latency_ms: float
    status: int
    error: str = ""
    version: str = ""  # from the health answer's JSON, when it has one


@dataclass(frozen=True, slots=True)
class ReleaseStateChanged(Event):
    """The rollout moved to ``state`` (preflight, step, paused, done, aborted, ...)."""

    state: str
    step: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ColourDeployed(Event):
    """The idle colour was deployed with these stored bytes (built by run ``built_by``)."""

    colour: str
    sha256: str
    artifact: str
    built_by: int


@dataclass(frozen=True, slots=True)
class AlertRaised(Event):
    """Something an operator must hear of: a colour down or healthy again, a release aborted.

    ``source`` names what raised it (``release``, ``monitor``, a check's name); ``run_id`` is 0
    when no run caused it."""

    text: str
    level: str = "warning"  # info | warning | error
    source: str = ""


@dataclass(frozen=True, slots=True)
class CommitReleased(Event):
    """A release finished with this commit (git HEAD) live, so the next one lists what changed."""

    commit: str
