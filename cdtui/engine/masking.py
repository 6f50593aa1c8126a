"""Secret masking on every path out: log files, events, screen, the store and error messages.

Each secret is masked in every form ``secret_forms`` knows (raw, base64 at each alignment,
hex, URL, JSON, shell quoting, ``repr``), found in one Aho-Corasick pass (a regex alternation
of a few dozen forms crawls at ~25 MB/s; the automaton runs at GB/s). Encodings that tools
wrap (``base64`` at 76 columns, ``xxd -p`` at 60) are masked line by line: a run of at least
``GRAM`` characters of the encoding that starts or ends a line is a piece of the secret.
Streams are masked with a hold-back, so a secret written one byte per ``write()`` never leaks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ahocorasick_rs import BytesAhoCorasick, MatchKind

from cdtui.engine.secret_forms import escaped_forms, line_forms, safe_anchor, wrappable_forms

MASK = "***"
_MASK_BYTES = MASK.encode()
GRAM = 8  # a wrapped piece shorter than this is kept: at most 6 bytes of the value
_START = 4  # the hold-back finds where a form may begin by its first bytes
_ENCODED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"

_RUN_WINDOW = 64  # a longer run at the end of a read is taken for a line of an encoding
_NEWLINE = ord("\n")
_GROUP = 64  # patterns per automaton: more and it cannot use its SIMD prefilter
_MIN_ANCHOR = 6  # a shorter shared run would be found too often: each form is then a pattern
Span = tuple[int, int]
Check = tuple[bytes, int, bool]  # (form, where the pattern sits in it, a piece is enough)


class SecretMasker:
    """Masks a fixed set of secret values; cheap no-op when there are none."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        checks: dict[bytes, list[Check]] = {}  # what the automaton finds -> what to verify there
        forms: set[bytes] = set()
        wrapped: set[bytes] = set()
        for value in filter(None, values):
            _add_checks(checks, value)
            forms |= escaped_forms(value) | line_forms(value)
            wrapped |= wrappable_forms(value)
        self.forms = sorted(forms | wrapped, key=lambda f: (-len(f), f))
        if not self.forms:
            return
        self._longest = len(self.forms[0])
        found = sorted(checks)
        # Leftmost-first with at most 64 patterns lets the automaton use its SIMD prefilter
        # (3-4x faster than one overlapping search of them all); what it skips (a find that
        # starts inside another) the window search adds.
        groups = -(-len(found) // _GROUP)
        self._finders = [
            (BytesAhoCorasick(found[i::groups], matchkind=MatchKind.LeftmostFirst), i, groups)
            for i in range(groups)
        ]
        self._finder_all = BytesAhoCorasick(found)
        self._widest = max(map(len, found))
        self._checks = [checks[f] for f in found]
        # gram -> (encoded form, where the gram starts in it), for pieces that start a line
        self._grams: dict[bytes, list[tuple[bytes, int]]] = {}
        for encoded in sorted(wrapped):
            for at in range(len(encoded) - GRAM + 1):
                self._grams.setdefault(encoded[at : at + GRAM], []).append((encoded, at))
        # every pattern starts with a newline: the automaton skips ahead with memchr
        self._line_starts = BytesAhoCorasick([b"\n" + g for g in self._grams])
        self._starts: dict[bytes, list[bytes]] = {}
        for form in self.forms:
            self._starts.setdefault(form[:_START], []).append(form)
        self._start_finder = BytesAhoCorasick(sorted(self._starts))
        self._short_prefixes = {f[:n] for f in self.forms for n in range(1, _START)}

    def __bool__(self) -> bool:
        return bool(self.forms)

    def mask_text(self, text: str) -> str:
        if not self.forms:
            return text
        return self.mask_bytes(text.encode("utf-8", "surrogatepass")).decode(
            "utf-8", "surrogatepass"
        )

    def mask_bytes(self, data: bytes) -> bytes:
        if not self.forms:
            return data
        return bytes(self._masked(data, len(data))[0])

    def mask_file(self, path: Path) -> None:
        """Rewrite a file a stage wrote (its metrics) masked, so what is kept holds no secret."""
        if not self.forms:
            return
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        masked = self.mask_bytes(data)
        if masked != data:
            partial = path.with_name(path.name + ".masking")
            partial.write_bytes(masked)
            os.replace(partial, path)

    def stream(self) -> StreamMasker:
        return StreamMasker(self)

    # -- the work ---------------------------------------------------------------------------
    def _masked(self, data: bytes, cut: int) -> tuple[bytes | memoryview, int]:
        """``data[:cut]`` masked (``cut`` moves past a form that starts before it), and the cut."""
        spans: list[Span] = []
        for index, start in self._finds(data):
            for form, offset, piece in self._checks[index]:
                begin = start - offset
                if not 0 <= begin < cut:
                    continue
                if piece:
                    size = _common_prefix(data[begin : begin + len(form)], form)
                    if size >= min(GRAM, len(form)):
                        spans.append((begin, begin + size))
                elif data.startswith(form, begin):
                    spans.append((begin, begin + len(form)))
        cut = max([cut, *(end for _, end in spans)])
        starts = [start + 1 for _, start, _ in self._line_starts.find_matches_as_indexes(data)]
        for at in (0, *starts):  # where a read was cut counts as a line's start, and end
            if at < cut and (span := self._piece(data, at, cut)) is not None:
                spans.append(span)
        if (span := self._tail_piece(data, cut)) is not None:
            spans.append(span)
        return _replace(data, cut, spans), cut

    def _finds(self, data: bytes) -> list[tuple[int, int]]:
        """(pattern, start) of every pattern in ``data``, overlapping ones too."""
        finds: list[tuple[int, int]] = []
        hits: list[tuple[int, int, int]] = []
        for finder, first, step in self._finders:
            found = finder.find_matches_as_indexes(data)
            finds += [(first + index * step, start) for index, start, _ in found]
            hits += found
        for _, start, end in hits:
            window = data[start + 1 : end + self._widest - 1]
            for index, inner, _ in self._finder_all.find_matches_as_indexes(
                window, overlapping=True
            ):
                if start + 1 + inner < end:
                    finds.append((index, start + 1 + inner))
        return finds

    def _piece(self, data: bytes, at: int, cut: int) -> Span | None:
        """The longest piece of a wrapped encoding that starts a line at ``at``."""
        best = 0
        for encoded, where in self._grams.get(data[at : at + GRAM], ()):
            rest = encoded[where:]
            best = max(best, _common_prefix(data[at : min(cut, at + len(rest))], rest))
        return (at, at + best) if best >= GRAM else None

    def _tail_piece(self, data: bytes, at: int) -> Span | None:
        """The longest piece of a wrapped encoding that ends a line at ``at``."""
        best = 0
        for encoded, where in self._grams.get(data[max(0, at - GRAM) : at], ()):
            head = encoded[: where + GRAM]
            best = max(best, _common_suffix(data[max(0, at - len(head)) : at], head))
        return (at - best, at) if best >= GRAM else None

    def _held(self, data: bytes) -> int:
        """How many trailing bytes must wait for more: a possible start of a form, or of a
        wrapped line (a run of encoding characters since the line began: its last GRAM - 1, or
        all of it while it is shorter than two grams, so neither side of the read is too short
        to be recognised)."""
        tail = data[-(self._longest - 1) :] if self._longest > 1 else b""
        held = 0
        found = self._start_finder.find_matches_as_indexes(tail, overlapping=True)
        for _, start, end in sorted(found, key=lambda match: match[1]):
            rest = tail[start:]
            if any(
                len(f) > len(rest) and f.startswith(rest) for f in self._starts[tail[start:end]]
            ):
                held = len(rest)
                break
        if not held:
            short = range(min(_START - 1, len(tail)), 0, -1)
            held = next((n for n in short if tail[-n:] in self._short_prefixes), 0)
        end = data[-_RUN_WINDOW:]
        run = len(end) - len(end.rstrip(_ENCODED))
        if not run or (run < len(end) and end[-run - 1] != _NEWLINE):
            return held  # a word after a space waits for nothing: a prompt shows at once
        return max(held, run if run < 2 * GRAM - 1 else GRAM - 1)


def _add_checks(checks: dict[bytes, list[Check]], value: str) -> None:
    """What to look for to find each form of ``value``, and how to confirm a find.

    The escaped forms share a run no escape touches: one pattern finds them all, each is then
    compared where it would begin. An encoding is found by its first ``GRAM`` characters and
    masked as far as it goes on (to a line's end when it is wrapped).
    """
    anchor = safe_anchor(value)
    for form in escaped_forms(value) | line_forms(value):
        offset = form.find(anchor) if len(anchor) >= _MIN_ANCHOR else -1
        if offset < 0:
            checks.setdefault(form, []).append((form, 0, False))
        else:
            checks.setdefault(anchor, []).append((form, offset, False))
    for encoded in wrappable_forms(value):
        checks.setdefault(encoded[:GRAM], []).append((encoded, 0, True))


def _common_prefix(a: bytes, b: bytes) -> int:
    size, most = 0, min(len(a), len(b))
    while size < most and a[size] == b[size]:
        size += 1
    return size


def _common_suffix(a: bytes, b: bytes) -> int:
    return _common_prefix(a[::-1], b[::-1])


def _replace(data: bytes, cut: int, spans: list[Span]) -> bytes | memoryview:
    """``data[:cut]`` with each span (merged where they overlap) replaced by the mask.

    Without a copy when nothing is masked: at GB/s a copy of each read costs as much as the search.
    """
    view = memoryview(data)
    if not spans:
        return data if cut == len(data) else view[:cut]
    out: list[bytes | memoryview] = []
    pos = 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        if start >= pos:
            out.append(view[pos:start])
            out.append(_MASK_BYTES)
        pos = end
    out.append(view[pos:cut])
    return b"".join(out)


class StreamMasker:
    """Masks one output stream chunk by chunk, holding back what could begin a secret."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes | memoryview:
        """What of ``chunk`` (after what was held) can go out now, masked; a view, not a copy,
        when nothing in it was masked."""
        masker = self._masker
        if not masker:
            return chunk
        data = self._pending + chunk if self._pending else chunk
        out, cut = masker._masked(data, len(data) - masker._held(data))
        self._pending = data[cut:]
        return out

    def flush(self) -> bytes:
        """The held-back tail at end of stream, masked (it may end a line of a wrapped piece)."""
        data, self._pending = self._pending, b""
        return self._masker.mask_bytes(data)
