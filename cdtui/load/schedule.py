"""When each request of the open model is due: offsets from the start for a constant rate or a
ramp of linear segments (k6's ramping arrival rate), shared out over worker processes."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence


def arrivals(
    rate: float | None, stages: Sequence[tuple[float, float]], duration: float
) -> Iterator[float]:
    """Offsets in seconds of every arrival, in order; ``stages`` are (duration, target rate)."""
    if not stages:
        assert rate, "an open model without stages needs a rate"
        count = math.floor(duration * rate - 1e-9) + 1
        for n in range(count):
            yield n / rate
        return
    start, done, n = 0.0, 0.0, 0  # segment start time, arrivals due before it, next arrival
    r0 = rate or 0.0
    for length, r1 in stages:
        a = (r1 - r0) / (2 * length)
        total = r0 * length + a * length * length  # arrivals over this segment
        while n < done + total - 1e-9:
            k = n - done
            root = math.sqrt(max(r0 * r0 + 4 * a * k, 0.0))
            yield start + (0.0 if k == 0 else 2 * k / (r0 + root))
            n += 1
        start += length
        done += total
        r0 = r1


def rate_at(rate: float | None, stages: Sequence[tuple[float, float]], offset: float) -> float:
    """The target arrival rate at ``offset`` seconds (what the graphs compare the achieved to)."""
    if not stages:
        return rate or 0.0
    start, r0 = 0.0, rate or 0.0
    for length, r1 in stages:
        if offset <= start + length:
            return r0 + (r1 - r0) * (offset - start) / length
        start, r0 = start + length, r1
    return r0


def mine(offsets: Iterator[float], index: int, count: int) -> Iterator[tuple[int, float]]:
    """Worker ``index`` of ``count`` sends every count-th arrival, so together they keep time."""
    for n, offset in enumerate(offsets):
        if n % count == index:
            yield n, offset


def arrival_count(
    rate: float | None, stages: Sequence[tuple[float, float]], duration: float
) -> int:
    """How many requests the open model schedules in all."""
    if not stages:
        assert rate
        return math.floor(duration * rate - 1e-9) + 1
    return sum(1 for _ in arrivals(rate, stages, duration))
