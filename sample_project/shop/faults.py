"""The fault switch the release demo uses to make a deployment go bad on purpose.

Failures are spread evenly rather than drawn at random, so a rate of 0.25 fails exactly one
request in four: tests can assert counts and a demo behaves the same every time.
"""

from __future__ import annotations

import math
import threading

from shop.config import ConfigError, parse_rate


def fails(request_number: int, rate: float) -> bool:
    """Whether the n-th request (1-based) fails when ``rate`` of all requests should fail."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    return math.floor(request_number * rate) > math.floor((request_number - 1) * rate)


def rate_from_file_text(text: str) -> float:
    """An empty fault file means "fail everything"; a number in it sets the share instead."""
    text = text.strip()
    if not text:
        return 1.0
    try:
        return parse_rate(text, "the fault file")
    except ConfigError:
        return 1.0


class FaultSwitch:
    """Decides per request whether to answer 500, from SHOP_FAIL_RATE and the fault file.

    The file is checked on every request (one stat call) so touching or removing it takes
    effect immediately, without restarting the server.
    """

    def __init__(self, rate: float = 0.0, fault_file: str | None = None) -> None:
        self.rate = rate
        self.fault_file = fault_file
        self._count = 0
        self._lock = threading.Lock()

    def current_rate(self) -> float:
        """The base rate, or the fault file's rate while that file exists."""
        if self.fault_file:
            try:
                with open(self.fault_file, encoding="utf-8", errors="replace") as handle:
                    return max(self.rate, rate_from_file_text(handle.read(64)))
            except FileNotFoundError:
                pass
            except OSError:
                return 1.0
        return self.rate

    def should_fail(self) -> bool:
        """Count this request and say whether it fails."""
        rate = self.current_rate()
        if rate <= 0.0:
            return False
        with self._lock:
            self._count += 1
            number = self._count
        return fails(number, rate)
