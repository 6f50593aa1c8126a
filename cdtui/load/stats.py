"""What a load run counts: answered latencies in a histogram, requests, failures by kind and
status; mergeable across seconds, scenarios and worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdtui.load.histogram import Histogram

FAILED_FROM = 400
"""An answer with this status or above counts in http_req_failed (k6's default)."""


@dataclass(slots=True)
class Stats:
    latency: Histogram = field(default_factory=Histogram)
    requests: int = 0  # finished, answered or not
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count
    statuses: dict[int, int] = field(default_factory=dict)  # 200 -> count
    samples: dict[str, str] = field(default_factory=dict)  # kind -> first detail seen

    def answered(self, micros: int, status: int) -> None:
        self.requests += 1
        self.latency.record(micros)
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        if status >= FAILED_FROM:
            self.failed += 1
            self.errors["status"] = self.errors.get("status", 0) + 1
            self.samples.setdefault("status", f"HTTP {status}")

    def unanswered(self, micros: int, kind: str, detail: str) -> None:
        """A failure with no answer; a timeout's wait still counts as latency users saw."""
        self.requests += 1
        self.failed += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.samples.setdefault(kind, detail)
        if kind == "timeout":
            self.latency.record(micros)

    @property
    def failed_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    def merge(self, other: Stats) -> None:
        self.latency.merge(other.latency)
        self.requests += other.requests
        self.failed += other.failed
        for mine, theirs in ((self.errors, other.errors), (self.statuses, other.statuses)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        for kind, detail in other.samples.items():
            self.samples.setdefault(kind, detail)

    def to_json(self) -> dict:
        return {
            "latency": self.latency.to_json(),
            "requests": self.requests,
            "failed": self.failed,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict) -> Stats:
        return cls(
            Histogram.from_json(data["latency"]),
            int(data["requests"]),
            int(data["failed"]),
            dict(data["errors"]),
            {int(k): v for k, v in data["statuses"].items()},
            dict(data["samples"]),
        )
