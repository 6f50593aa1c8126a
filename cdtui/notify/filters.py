"""Which payloads a sink hears: its ``on:`` words and kinds, then its ``phases:``/``stages:``.

``on:`` words: ``all``; ``failed`` (a stage that failed for good, a failed run, a release that
aborted, failed or rolled back, an error alert); ``succeeded``; ``gate`` (waiting, approved);
``release`` (state changes, colours deployed, commits released); ``rollback``; ``abort``;
``alert``; ``summary`` (one per run: RunFinished). Event kind names select that kind. With
``phases:`` or ``stages:``, an event of another phase or stage is left out; events of no phase
(a run's summary, an alert) still pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cdtui.config.notify import DEFAULT_ON

Payload = dict[str, Any]
_OK = ("SUCCEEDED", "SKIPPED")
_RELEASE_FAILED = ("aborted", "failed", "rolled back")
_RELEASE = ("ReleaseStateChanged", "ColourDeployed", "CommitReleased")
_ALERTS = ("AlertRaised", "AlertFired", "AlertResolved")  # a monitor alert with no notify: quiet


def _failed(p: Payload) -> bool:
    kind = p["kind"]
    if kind == "StageFinished":
        return p.get("status") not in _OK and not p.get("will_retry")
    if kind == "RunFinished":
        return p.get("status") not in _OK
    if kind == "ReleaseStateChanged":
        return p.get("state") in _RELEASE_FAILED
    if kind in ("AlertRaised", "Notice") or (kind == "AlertFired" and not p.get("quiet")):
        return p.get("level") == "error"
    return False


def _succeeded(p: Payload) -> bool:
    return p["kind"] in ("StageFinished", "RunFinished") and p.get("status") in _OK


def _rollback(p: Payload) -> bool:
    if p["kind"] == "ReleaseStateChanged":
        return p.get("state") == "rolled back"
    return p["kind"] == "StageFinished" and p.get("stage") == "rollback"


WORDS: dict[str, Callable[[Payload], bool]] = {
    "all": lambda p: True,
    "failed": _failed,
    "succeeded": _succeeded,
    "gate": lambda p: p["kind"] in ("GateWaiting", "GateApproved"),
    "release": lambda p: p["kind"] in _RELEASE,
    "rollback": _rollback,
    "abort": lambda p: p["kind"] == "ReleaseStateChanged" and p.get("state") == "aborted",
    "alert": lambda p: p["kind"] in _ALERTS and not p.get("quiet"),
    "summary": lambda p: p["kind"] == "RunFinished",
}


class EventFilter:
    """Compiled once per sink; ``__call__`` is on every event's path, so it stays cheap."""

    def __init__(
        self,
        on: Iterable[str] | None,
        phases: Iterable[str] = (),
        stages: Iterable[str] = (),
        default: Iterable[str] | None = None,
    ) -> None:
        words = list(on) if on is not None else list(default or DEFAULT_ON)
        self.tests = [WORDS[w.lower()] for w in words if w.lower() in WORDS]
        self.kinds = frozenset(w for w in words if w.lower() not in WORDS)
        self.everything = any(w.lower() == "all" for w in words)
        self.phases = frozenset(phases)
        self.stages = frozenset(stages)

    def __call__(self, payload: Payload) -> bool:
        if self.phases and payload.get("phase") and payload["phase"] not in self.phases:
            return False
        if self.stages and payload.get("stage") and payload["stage"] not in self.stages:
            return False
        if self.everything or payload["kind"] in self.kinds:
            return True
        return any(test(payload) for test in self.tests)
