"""Settings from the environment, parsed by a pure function so tests need not touch os.environ."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORT = 8000
DEFAULT_DB = "shop.db"
DEFAULT_COLOUR = "blue"


class ConfigError(ValueError):
    """A setting is malformed; the message names the variable and the accepted values."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db: str = DEFAULT_DB
    colour: str = DEFAULT_COLOUR
    fail_rate: float = 0.0
    fault_file: str | None = None
    access_log: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read SHOP_* variables; unset or empty ones keep their defaults."""
        return cls(
            host=env.get("SHOP_HOST") or "127.0.0.1",
            port=parse_port(env.get("SHOP_PORT") or str(DEFAULT_PORT)),
            db=env.get("SHOP_DB") or DEFAULT_DB,
            colour=env.get("SHOP_COLOUR") or DEFAULT_COLOUR,
            fail_rate=parse_rate(env.get("SHOP_FAIL_RATE") or "0", "SHOP_FAIL_RATE"),
            fault_file=env.get("SHOP_FAULT_FILE") or None,
            access_log=(env.get("SHOP_ACCESS_LOG") or "0").lower() in ("1", "true", "yes"),
        )


def parse_port(text: str) -> int:
    """A TCP port; 0 asks the OS for a free one (tests use it)."""
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"SHOP_PORT must be an integer 0..65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"SHOP_PORT must be an integer 0..65535, got {port}")
    return port


def parse_rate(text: str, name: str = "rate") -> float:
    """A share of requests between 0 and 1 inclusive."""
    try:
        rate = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"{name} must be a number from 0 to 1, got {rate}")
    return rate
