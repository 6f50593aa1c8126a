"""Secret masking on every path out: log files, events, screen and error messages.

A value is also masked in its base64 forms (at each of the three byte alignments, so
``base64("user:" + password)`` in a Basic auth header is caught too) and line by line
when it spans lines. Streams are masked with a hold-back: the tail of a chunk that could
be the start of a secret waits for the next chunk, so a secret written one byte per
``write()`` never leaks.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "***"
_MASK_BYTES = MASK.encode()
_MIN_FORM_LENGTH = 6


def _base64_forms(value: bytes) -> set[bytes]:
    """The base64 text that any encoding containing ``value`` must contain, per alignment."""
    forms: set[bytes] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).rstrip(b"=")
        drop = (0, 2, 3)[offset]
        total = offset + len(value)
        keep = 4 * (total // 3) + (0, 1, 2)[total % 3]
        core = encoded[drop:keep]
        if len(core) >= _MIN_FORM_LENGTH:
            forms.add(core)
            forms.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return forms


def secret_forms(values: Iterable[str]) -> list[bytes]:
    """Every byte pattern to mask, longest first so the regex prefers the whole value."""
    forms: set[bytes] = set()
    for value in values:
        if not value:
            continue
        raw = value.encode()
        forms.add(raw)
        forms |= _base64_forms(raw)
        for line in value.splitlines():
            if len(line.strip()) >= _MIN_FORM_LENGTH:
                forms.add(line.strip().encode())
    return sorted(forms, key=lambda f: (-len(f), f))


class SecretMasker:
    """Masks a fixed set of secret values; cheap no-op when there are none."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.forms = secret_forms(values)
        if self.forms:
            self._bytes_re = re.compile(b"|".join(re.escape(f) for f in self.forms))
            self._text_re = re.compile("|".join(re.escape(f.decode()) for f in self.forms))
        self._prefixes = {f[:n] for f in self.forms for n in range(1, len(f))}
        self._longest = max((len(f) for f in self.forms), default=0)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def mask_text(self, text: str) -> str:
        return self._text_re.sub(MASK, text) if self.forms else text

    def mask_bytes(self, data: bytes) -> bytes:
        return self._bytes_re.sub(_MASK_BYTES, data) if self.forms else data

    def stream(self) -> StreamMasker:
        return StreamMasker(self)

    def _held_suffix(self, data: bytes) -> int:
        """Length of the longest suffix of ``data`` that is a proper prefix of a secret form."""
        for size in range(min(self._longest - 1, len(data)), 0, -1):
            if data[-size:] in self._prefixes:
                return size
        return 0


class StreamMasker:
    """Masks one output stream chunk by chunk, holding back a possible secret prefix."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        masker = self._masker
        if not masker:
            return chunk
        data = self._pending + chunk
        cut = len(data) - masker._held_suffix(data)
        out: list[bytes] = []
        pos = 0
        for match in masker._bytes_re.finditer(data):
            if match.start() >= cut:
                break
            out.append(data[pos : match.start()])
            out.append(_MASK_BYTES)
            pos = match.end()
            cut = max(cut, pos)
        out.append(data[pos:cut])
        self._pending = data[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The held-back tail at end of stream (it is not a secret: no match completed)."""
        data, self._pending = self._pending, b""
        return self._masker.mask_bytes(data)
