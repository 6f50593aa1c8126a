"""An HDR-style latency histogram: log-linear buckets, every value within 0.4% of its bucket's
middle, mergeable (worker processes send theirs), cheap enough to record every request."""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BITS = 8
"""Each power of two is split in 128 buckets: bucket width <= 1/128 of its values (0.8%)."""
_SUB = 1 << SUB_BITS
_HALF = _SUB >> 1
MAX_SHIFT = 30  # with microseconds: values up to ~2^38 us (76 hours)
SIZE = _SUB + MAX_SHIFT * _HALF


def bucket_of(value: int) -> int:
    """The bucket index of a non-negative integer (microseconds)."""
    if value < _SUB:
        return max(value, 0)
    shift = value.bit_length() - SUB_BITS
    if shift > MAX_SHIFT:
        return SIZE - 1
    return _SUB + (shift - 1) * _HALF + (value >> shift) - _HALF


def bucket_range(index: int) -> tuple[int, int]:
    """The values [low, high) bucket ``index`` holds."""
    if index < _SUB:
        return index, index + 1
    shift, offset = divmod(index - _SUB, _HALF)
    shift += 1
    low = (offset + _HALF) << shift
    return low, low + (1 << shift)


@dataclass(slots=True)
class Histogram:
    """Latencies in microseconds; percentiles in milliseconds."""

    counts: list[int] = field(default_factory=lambda: [0] * SIZE)
    count: int = 0
    total: int = 0
    low: int = 0  # the exact minimum, valid when count > 0
    high: int = 0  # the exact maximum

    def record(self, micros: int) -> None:
        if micros < _SUB:  # bucket_of, inline: this runs for every request
            index = max(micros, 0)
            micros = index
        else:
            shift = micros.bit_length() - SUB_BITS
            index = (
                SIZE - 1
                if shift > MAX_SHIFT
                else _SUB + (shift - 1) * _HALF + (micros >> shift) - _HALF
            )
        self.counts[index] += 1
        if self.count == 0 or micros < self.low:
            self.low = micros
        if micros > self.high:
            self.high = micros
        self.count += 1
        self.total += micros

    def merge(self, other: Histogram) -> None:
        if not other.count:
            return
        mine = self.counts
        for index, n in enumerate(other.counts):
            if n:
                mine[index] += n
        self.low = other.low if not self.count else min(self.low, other.low)
        self.high = max(self.high, other.high)
        self.count += other.count
        self.total += other.total

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile in ms (the middle of its bucket, clamped to min and max)."""
        if not self.count:
            return 0.0
        rank = max(1, -(-self.count * pct // 100))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                low, high = bucket_range(index)
                middle = (low + high - 1) / 2
                return min(max(middle, self.low), self.high) / 1000
        return self.high / 1000

    @property
    def mean(self) -> float:
        return self.total / self.count / 1000 if self.count else 0.0

    @property
    def minimum(self) -> float:
        return self.low / 1000

    @property
    def maximum(self) -> float:
        return self.high / 1000

    # -- between processes ----------------------------------------------------------------
    def to_json(self) -> dict:
        buckets = {str(i): n for i, n in enumerate(self.counts) if n}
        return {
            "buckets": buckets,
            "count": self.count,
            "total": self.total,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_json(cls, data: dict) -> Histogram:
        made = cls(
            count=int(data["count"]),
            total=int(data["total"]),
            low=int(data["low"]),
            high=int(data["high"]),
        )
        for index, n in data["buckets"].items():
            made.counts[int(index)] = int(n)
        return made
