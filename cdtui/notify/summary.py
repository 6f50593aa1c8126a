"""What a run's one summary carries: its duration, its stage counts and each failure with the
last lines of its output (already masked by the engine), so a chat message can say what broke
and how to read the rest without a second message per failed stage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cdtui.engine.events import Event, RunFinished, RunStarted, StageFinished, StageOutput

TAIL_CHARS = 4000  # of output kept per running stage
TAIL_LINES = 20
MAX_FAILURES = 5


@dataclass
class _Run:
    started: float
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)


class RunDigest:
    """Fed every event (output too); ``extra(event)`` is what a RunFinished payload adds."""

    def __init__(self) -> None:
        self._runs: dict[int, _Run] = {}
        self._tails: dict[tuple[int, str, str, int], str] = {}

    def output(self, event: StageOutput) -> None:
        key = (event.run_id, event.phase, event.stage, event.attempt)
        tail = self._tails.get(key, "") + event.text
        self._tails[key] = tail[-TAIL_CHARS:] if len(tail) > TAIL_CHARS else tail

    def extra(self, event: Event) -> dict[str, Any] | None:
        if isinstance(event, RunStarted):
            self._runs[event.run_id] = _Run(event.at)
        elif isinstance(event, StageFinished):
            return self._stage(event)
        elif isinstance(event, RunFinished):
            run = self._runs.pop(event.run_id, None)
            if run is None:
                return None
            return {
                "duration": round(event.at - run.started, 3),
                "stages": dict(run.counts),
                "failures": run.failures,
            }
        return None

    def _stage(self, event: StageFinished) -> dict[str, Any] | None:
        tail = self._tails.pop((event.run_id, event.phase, event.stage, event.attempt), "")
        run = self._runs.get(event.run_id)
        if event.will_retry:
            return None
        if run is not None:
            run.counts[event.status.value] += 1
        if event.status.ok:
            return None
        lines = tail.rstrip("\n").splitlines()[-TAIL_LINES:]
        failure = {
            "phase": event.phase,
            "stage": event.stage,
            "status": event.status.value,
            "exit_code": event.exit_code,
            "reason": event.reason,
            "duration": round(event.duration, 3),
            "log_tail": lines,
            "log_command": f"cdtui logs {event.run_id} {_quote(event.stage)}",
        }
        if run is not None and len(run.failures) < MAX_FAILURES:
            run.failures.append(failure)
        return {"log_tail": lines, "log_command": failure["log_command"]}


def _quote(name: str) -> str:
    import shlex

    return shlex.quote(name)
