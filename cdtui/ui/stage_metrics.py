"""What a stage measured (``CDTUI_METRICS``: scenario counts from a JUnit report, a load test's
p95), told in one line when the stage finishes, the way the headless summary lists it."""

from __future__ import annotations

from cdtui.engine.events import Event, MetricRecorded, StageFinished


class StageMetrics:
    """Collects each stage's metrics during its attempt; ``apply`` returns the line to tell."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], list[MetricRecorded]] = {}

    def apply(self, event: Event) -> tuple[str, str] | None:
        """(text, severity) once a stage that measured something finishes, else None."""
        if isinstance(event, MetricRecorded):
            self._seen.setdefault((event.phase, event.stage), []).append(event)
        elif isinstance(event, StageFinished):
            found = self._seen.pop((event.phase, event.stage), None)
            if found:
                said = ", ".join(f"{m.name} {m.value:g}{m.unit}" for m in found)
                missed = any(m.ok is False for m in found)
                return f"{event.stage}: {said}", "error" if missed else "information"
        return None
