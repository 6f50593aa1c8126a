"""Secrets never leave as text: whole, split across reads, in base64, line by line."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from cdtui.engine.masking import SecretMasker

SECRET = "correct-horse-battery"


def _stream(masker: SecretMasker, chunks: list[bytes]) -> bytes:
    stream = masker.stream()
    return b"".join(stream.feed(c) for c in chunks) + stream.flush()


def test_one_byte_per_write_never_leaks():
    masker = SecretMasker([SECRET])
    data = f"token={SECRET}; again {SECRET}!".encode()
    out = _stream(masker, [data[i : i + 1] for i in range(len(data))])
    assert out == b"token=***; again ***!"


def test_base64_forms_at_every_alignment_are_masked():
    masker = SecretMasker([SECRET])
    for prefix in (b"", b"u:", b"us:", b"use:"):
        encoded = base64.b64encode(prefix + SECRET.encode())
        for variant in (encoded, encoded.replace(b"+", b"-").replace(b"/", b"_")):
            out = masker.mask_bytes(b"Authorization: Basic " + variant)
            assert b"***" in out
            # what remains: the prefix's own characters and at most 4 at the edges
            kept = len(out) - len(b"Authorization: Basic ***")
            assert kept <= -(-len(prefix) * 4 // 3) + 4


def test_multiline_secret_masked_line_by_line():
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----"
    masker = SecretMasker([key])
    out = masker.mask_text("first line only: MIIEvQIBADANBgkqhkiG9w0BAQEF")
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEF" not in out


def test_no_secrets_is_a_passthrough():
    masker = SecretMasker([])
    stream = masker.stream()
    assert stream.feed(b"abc") == b"abc" and not masker


def test_text_with_a_secret_prefix_is_released_at_end_of_stream():
    masker = SecretMasker([SECRET])
    stream = masker.stream()
    assert stream.feed(b"ends with correct-") == b"ends with "
    assert stream.flush() == b"correct-"


@settings(max_examples=400, deadline=None)
@given(
    secrets=st.lists(
        st.text(alphabet="abcdefghij0123456789-_", min_size=8, max_size=20), min_size=1, max_size=3
    ),
    filler=st.lists(st.text(alphabet="abcxyz \n=:", max_size=12), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_streaming_never_reveals_a_secret_wherever_the_reads_split(secrets, filler, cuts):
    pieces = []
    for i, text in enumerate(filler):
        pieces.append(text)
        pieces.append(secrets[i % len(secrets)])
    data = "".join(pieces).encode()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    out = _stream(SecretMasker(secrets), chunks)
    for secret in secrets:
        assert secret.encode() not in out
