"""Durations as operators write them: ``10s``, ``500ms``, ``1m30s``, ``2h``.

A pipeline file must name the unit (``timeout: 10`` reads as seconds to one person and minutes
to another); models built in Python, and JSON pipeline files, may give plain seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, ValidationInfo

MAX_SECONDS = 30 * 86400
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Seconds as a float; raises ValueError with a hint for anything else."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s, 500ms or 1m30s, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value > MAX_SECONDS:
            raise ValueError(f"expected a duration of at most {MAX_SECONDS // 86400} days")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, total = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            return parse_duration(total)
    raise ValueError(f"expected a duration such as 10s, 500ms or 1m30s, got {value!r}")


def format_duration(seconds: float) -> str:
    """Compact human form used in tables: 0.4s, 12.3s, 4m05s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


UNITS_REQUIRED = "durations_need_units"
"""Validation context key: set by the loader for a YAML pipeline file."""


def unitless(value: float) -> str:
    """Why a bare number is refused, with the two readings it could have."""
    shown = f"{value:g}"
    return (
        f"the duration {shown} has no unit: write {shown}s for seconds or {shown}m for minutes "
        "(units: ms, s, m, h)"
    )


def _validate(value: object, info: ValidationInfo) -> float:
    if (
        info.context
        and info.context.get(UNITS_REQUIRED)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value != 0  # zero is zero in every unit
    ):
        raise ValueError(unitless(value))
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_validate)]


def format_setting(seconds: float) -> str:
    """A configured duration as one would write it: 30s, 1m30s, 500ms, 2h."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)
