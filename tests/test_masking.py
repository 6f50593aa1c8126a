"""Secrets never leave as text: whole, split across reads, in every everyday encoding, and
base64 or hex wrapped line by line."""

from __future__ import annotations

import base64
import itertools
import json
import shlex
import subprocess
from urllib.parse import quote, quote_plus

import pytest
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


# -- the forms tools print ------------------------------------------------------------------
QUOTED = "pa'ss\"w/rd+ $x\\y"  # every escape has something to rewrite here
ONLY_SPECIALS = "'\"$\\!&*()<>"  # no run that escapes keep: each form is its own pattern


def _bash(script: str, *args: str) -> bytes:
    return subprocess.run(
        ["bash", "-c", script, "-", *args], capture_output=True, check=True
    ).stdout


def _unquoted(word: bytes) -> bytes:
    return word[1:-1] if len(word) > 1 and word[:1] == word[-1:] == b"'" else word


def _encodings(secret: str) -> dict[str, tuple[bytes, bytes]]:
    """name -> (what a tool prints, the part of it that must not survive)."""
    raw = secret.encode()
    xtrace = _bash('exec 2>&1; set -x; : "$1"', secret)
    printf_q = _bash('printf %q "$1"', secret)
    joined = shlex.join(["echo", secret]).encode()
    found = {
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "quote": quote(secret, safe="").encode(),
        "quote /": quote(secret).encode(),
        "quote_plus": quote_plus(secret).encode(),
    }
    return {
        **{name: (text, text) for name, text in found.items()},
        "json": (json.dumps({"k": secret}).encode(), json.dumps(secret)[1:-1].encode()),
        "repr": (repr({"k": secret}).encode(), repr(secret)[1:-1].encode()),
        "repr bytes": (repr(raw).encode(), repr(raw)[2:-1].encode()),
        "printf %q": (printf_q, printf_q),
        "bash -x": (xtrace, _unquoted(xtrace.removeprefix(b"+ : ").rstrip(b"\n"))),
        "shlex.join": (joined, _unquoted(joined.removeprefix(b"echo "))),
    }


@pytest.mark.parametrize("secret", [QUOTED, ONLY_SPECIALS, SECRET])
def test_every_everyday_encoding_is_masked(secret):
    masker = SecretMasker([secret])
    for name, (text, inner) in _encodings(secret).items():
        out = masker.mask_bytes(b"before " + text + b" after")
        assert inner not in out and b"***" in out, name


def _wrapped(data: bytes, width: int) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + width] + b"\n" for i in range(0, len(encoded), width))


LONG = "".join(chr(33 + (i * 37) % 94) for i in range(200))


def _no_piece_of(out: bytes, secret: str, size: int = 12) -> bool:
    """No ``size`` characters of the value's base64 (at any alignment) survive, lines joined."""
    joined = out.replace(b"\n", b"")
    for offset in range(3):
        encoded = base64.b64encode(b"u" * offset + secret.encode())[4:-4]
        if any(encoded[i : i + size] in joined for i in range(len(encoded) - size)):
            return False
    return True


@pytest.mark.parametrize("width", [64, 76])
@pytest.mark.parametrize("before", [b"", b"u", b"us:", b"a header before the value: "])
def test_wrapped_base64_is_masked_line_by_line(width, before):
    masker = SecretMasker([LONG])
    dump = _wrapped(before + LONG.encode() + b" and after", width)
    out = masker.mask_bytes(dump)
    assert _no_piece_of(out, LONG)
    assert out.count(b"\n") == dump.count(b"\n")  # lines stay lines


@settings(max_examples=200, deadline=None)
@given(
    width=st.sampled_from([60, 64, 76]),
    before=st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_wrapped_base64_stays_masked_wherever_the_reads_split(width, before, cuts):
    data = _wrapped(before + LONG.encode(), width)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    out = _stream(SecretMasker([LONG]), [data[a:b] for a, b in itertools.pairwise(bounds)])
    assert _no_piece_of(out, LONG, size=16)


def test_xxd_hex_dump_is_masked_line_by_line():
    dump = _bash('printf %s "$1" | xxd -p', LONG)
    out = SecretMasker([LONG]).mask_bytes(dump)
    hexed = LONG.encode().hex().encode()
    assert all(hexed[i : i + 16] not in out.replace(b"\n", b"") for i in range(len(hexed) - 16))


def test_mask_file_rewrites_only_what_holds_a_secret(tmp_path):
    masker = SecretMasker([SECRET])
    leaky, clean = tmp_path / "leaky.jsonl", tmp_path / "clean.jsonl"
    leaky.write_text(json.dumps({"name": f"t {SECRET}", "value": 1}) + "\n")
    clean.write_text('{"name": "t", "value": 1}\n')
    before = clean.stat().st_mtime_ns
    masker.mask_file(leaky)
    masker.mask_file(clean)
    masker.mask_file(tmp_path / "absent.jsonl")
    assert json.loads(leaky.read_text())["name"] == "t ***"
    assert clean.stat().st_mtime_ns == before


def test_a_secret_beginning_inside_another_is_masked_too():
    masker = SecretMasker(["abcdefgh12", "h12345678z"])
    out = masker.mask_bytes(b"see abcdefgh12345678z here")
    assert b"abcdefgh" not in out and b"345678z" not in out and out.startswith(b"see ***")


def test_many_secrets_are_each_masked_in_each_form():
    secrets = [f"secret-{i:02d}-{'xyz' * 3}" for i in range(40)]  # several automata
    masker = SecretMasker(secrets)
    for secret in secrets:
        raw = secret.encode()
        for form in (raw, raw.hex().encode(), base64.b64encode(raw), quote_plus(secret).encode()):
            assert masker.mask_bytes(b"[" + form + b"]").startswith(b"[***"), (secret, form)
