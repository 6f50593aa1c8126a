"""An event as the JSON every sink sends: the same keys everywhere, every string masked.

``kind`` is the event's class name, ``id`` its outbox id (receivers dedupe on it: delivery is
at-least-once), ``project``, ``run``, ``phase``, ``stage`` and ``status`` where they apply, ``at``
(epoch seconds), then the event's own fields. ``extra`` carries what the notifier adds (a run
summary's failures and duration). Every string is masked, keys too (``mask_payload``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from cdtui.engine.events import Event
from cdtui.engine.masking import SecretMasker

Payload = dict[str, Any]
_HEAD = ("kind", "id", "project", "run", "phase", "stage", "status", "at")
_counter = 0


def new_id(at: float | None = None) -> str:
    """Unique across processes and sortable by time: ``ms-pid-counter`` in hex."""
    global _counter
    _counter += 1
    millis = int((time.time() if at is None else at) * 1000)
    return f"{millis:011x}-{os.getpid():x}-{_counter:x}"


def to_payload(
    event: Event,
    *,
    project: str,
    event_id: str,
    masker: SecretMasker | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Payload:
    """The event as a JSON-ready dict with the common keys first."""
    fields = {}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        fields[name] = value if type(value) in _SCALARS else _plain(value)
    fields.pop("run_id", None)
    head: Payload = {"kind": type(event).__name__, "id": event_id, "project": project}
    head["run"] = event.run_id
    for key in ("phase", "stage", "status"):
        if fields.get(key) not in (None, ""):
            head[key] = fields.pop(key)
        else:
            fields.pop(key, None)
    head["at"] = round(event.at, 6)
    head.update(fields)
    if extra:
        head.update({key: _plain(value) for key, value in extra.items()})
    return mask_payload(head, masker) if masker else head


def to_line(event: Event, *, masker: SecretMasker | None, **what: Any) -> tuple[Payload, bytes]:
    """``to_payload`` and the log line it becomes, encoded once when nothing needs masking."""
    return masked_line(to_payload(event, masker=None, **what), masker)


def mask_payload(value: Any, masker: SecretMasker) -> Any:
    """Every string (keys too) with the masker's secrets replaced.

    Most events hold no secret: one pass over the whole encoded payload (the masker knows each
    secret's JSON-escaped form) proves it, instead of a pass per string. Only a payload where that
    pass finds something, or whose strings hold line breaks (wrapped encodings are found at line
    starts), is walked string by string."""
    return masked_line(value, masker)[0]


def masked_line(value: Payload, masker: SecretMasker | None) -> tuple[Payload, bytes]:
    """The payload masked, and its log line (``encode``): one encoding in the common case."""
    line = encode(value)
    if masker is None or not masker.forms:
        return value, line
    if b"\\n" not in line and masker.mask_bytes(line) == line:
        return value, line
    value = _walk(value, masker)
    return value, encode(value)


def _walk(value: Any, masker: SecretMasker) -> Any:
    if isinstance(value, str):
        return masker.mask_text(value)
    if isinstance(value, dict):
        return {masker.mask_text(str(k)): _walk(v, masker) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, masker) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})  # JSON as they are (not subclasses)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def encode(payload: Payload) -> bytes:
    """One compact JSON line (no newline): the log's record and most sinks' body."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def clamp(payload: Payload, max_bytes: int | None) -> Payload:
    """The payload cut to ``max_bytes`` encoded: the longest strings shortened first (never the
    common keys), ``clipped: true`` added. A payload that fits is returned as it is."""
    if max_bytes is None or len(encode(payload)) <= max_bytes:
        return payload
    result = dict(payload, clipped=True)
    for _ in range(64):
        over = len(encode(result)) - max_bytes
        if over <= 0:
            return result
        key, text = _longest_text(result)
        if key is None or len(text) <= 16:
            break
        keep = max(0, len(text) - over - 32)
        result[key] = text[:keep] + " …[clipped]"
    return {k: result[k] for k in (*_HEAD, "clipped") if k in result}


def _longest_text(payload: Payload) -> tuple[str | None, str]:
    best: tuple[str | None, str] = (None, "")
    for key, value in payload.items():
        if key in _HEAD:
            continue
        text = value if isinstance(value, str) else None
        if text is None and isinstance(value, list | dict):
            text = json.dumps(value, ensure_ascii=False)
        if text is not None and len(text) > len(best[1]):
            best = (key, text)
    return best
