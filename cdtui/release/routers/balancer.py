"""Which colour the next request goes to: smooth weighted round-robin, or the sticky cookie."""

from __future__ import annotations

from cdtui.release.routers.base import COLOURS, Weights
from cdtui.release.routers.http1 import Message

STICKY_COOKIE = "cdtui-colour"


class Balancer:
    """Smooth weighted round-robin (as nginx): a 10% split is exact over every 10 picks."""

    def __init__(self, weights: Weights) -> None:
        self.set(weights)

    def set(self, weights: Weights) -> None:
        self.weights = weights
        self._blue = self._green = 0  # restart the cycle so the new split is exact from here

    def pick(self) -> str:
        self._blue += self.weights.blue
        self._green += self.weights.green
        if self._blue >= self._green:
            self._blue -= 100
            return "blue"
        self._green -= 100
        return "green"

    def choose(self, cookie: str | None) -> tuple[str, bool]:
        """The cookie's colour while it has weight, else a fresh pick and a cookie to set."""
        if cookie in COLOURS and self.weights.of(cookie) > 0:
            return cookie, False
        return self.pick(), True


def sticky_colour(request: Message) -> str | None:
    """The colour named by the request's ``cdtui-colour`` cookie, if any."""
    for name, value in request.headers:
        if name.lower() == "cookie":
            for pair in value.split(";"):
                key, _, colour = pair.strip().partition("=")
                if key == STICKY_COOKIE:
                    return colour.strip()
    return None


def without_sticky(cookie_header: str) -> str:
    """The Cookie header minus ours: the backend never sees the router's cookie."""
    pairs = (p.strip() for p in cookie_header.split(";"))
    return "; ".join(p for p in pairs if p and p.partition("=")[0] != STICKY_COOKIE)


def set_cookie_header(colour: str) -> tuple[str, str]:
    return ("Set-Cookie", f"{STICKY_COOKIE}={colour}; Path=/; HttpOnly; SameSite=Lax")
