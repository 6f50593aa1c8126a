"""The one small interface every router driver implements, and the errors they raise.

The router is the source of truth for traffic weights, so every driver reads back what is in force
instead of trusting what it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

COLOURS = ("blue", "green")


class RouterError(Exception):
    """A router problem an operator can act on; the message is one line and names the fix."""


class RouterUnreachable(RouterError):
    """The router does not answer: not started, died (stale socket), or the network is down."""


class RouterMismatch(RouterError):
    """The router answered, but what it has in force is not what was asked or expected."""


class RouterRejected(RouterError):
    """The router refused a command (unknown backend or server, bad permission, bad value)."""


class InvalidWeights(RouterError, ValueError):
    """Weights that no router may be given: each 0..100, summing to 100."""


@dataclass(frozen=True)
class Weights:
    """Percent of new requests each colour receives; always sums to 100."""

    blue: int
    green: int

    ALL_BLUE: ClassVar[Weights]
    ALL_GREEN: ClassVar[Weights]

    def __post_init__(self) -> None:
        for colour in COLOURS:
            value = getattr(self, colour)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise InvalidWeights(
                    f"{colour} weight must be a whole percent 0..100, got {value!r}"
                )
        if self.blue + self.green != 100:
            raise InvalidWeights(
                f"weights must sum to 100, got blue {self.blue} + green {self.green}"
            )

    @classmethod
    def green_percent(cls, percent: int) -> Weights:
        """The weights of a rollout step: ``percent`` on green, the rest on blue."""
        return cls(blue=100 - percent, green=percent)

    @classmethod
    def from_ratio(cls, blue: float, green: float) -> Weights:
        """Percentages from raw relative weights (HAProxy 1/1, ALB 3/1); both 0 is an error."""
        if blue < 0 or green < 0 or blue + green <= 0:
            raise InvalidWeights(f"raw weights blue {blue} / green {green} send no traffic")
        green_pct = round(100 * green / (blue + green))
        return cls(blue=100 - green_pct, green=green_pct)

    def of(self, colour: str) -> int:
        return self.blue if colour == "blue" else self.green

    def as_dict(self) -> dict[str, int]:
        return {"blue": self.blue, "green": self.green}

    def __str__(self) -> str:
        return f"blue {self.blue}% / green {self.green}%"


Weights.ALL_BLUE = Weights(100, 0)
Weights.ALL_GREEN = Weights(0, 100)


@runtime_checkable
class Router(Protocol):
    """A driver for one router: embedded (cdtui's own proxy), haproxy (runtime API) or alb."""

    name: str

    async def set_weights(self, weights: Weights) -> Weights:
        """Apply, then read back and return what is in force (RouterMismatch if it differs)."""
        ...

    async def get_weights(self) -> Weights:
        """What the router actually has in force now."""
        ...

    async def describe(self) -> dict[str, str]:
        """Facts for ``status``: listen address, backends, pid, ... (values are display text)."""
        ...

    async def close(self) -> None:
        """Release connections and clients; the router itself keeps routing."""
        ...


def check_read_back(router: str, asked: Weights, got: Weights, fix: str) -> Weights:
    """The read-back weights, or RouterMismatch naming both and what to check."""
    if got != asked:
        raise RouterMismatch(f"{router} router has {got} in force after setting {asked}: {fix}")
    return got
