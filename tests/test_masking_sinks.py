"""Secrets in the encodings real tools print never reach a sink: a real run, real processes,
the real store; every file under the state directory (log files, metrics, runs.db and its
WAL) is read as bytes, and the events as the screen gets them."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from cdtui.engine.engine import EngineOptions
from cdtui.engine.events import Event, MetricRecorded, StageOutput, StageStarted, Status
from cdtui.session import Session

TOKEN = "pa'ss\"w/rd+ $x\\y-0123"  # quotes, slash, plus, space, dollar, backslash
# 200 bytes: its base64 is 268 characters, wrapped by `base64` over four lines
LONG = "".join(chr(33 + (i * 37) % 94) for i in range(200))
GRAM = 8


def encodings(secret: str) -> dict[str, bytes]:
    """What a leak looks like, computed here with the standard library and real bash."""
    raw = secret.encode()
    found = {
        "raw": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "quote": quote(secret, safe="").encode(),
        "quote_plus": quote_plus(secret).encode(),
        "json": json.dumps(secret)[1:-1].encode(),
        "repr": repr(secret)[1:-1].encode(),
        "xtrace": secret.replace("'", "'\\''").encode(),
        "shlex": secret.replace("'", "'\"'\"'").encode(),
    }
    printf_q = subprocess.run(
        ["bash", "-c", 'printf %q "$1"', "-", secret], capture_output=True, check=True
    ).stdout
    found["printf %q"] = printf_q
    for offset in range(3):  # the base64 of the value after 0, 1 or 2 other bytes
        encoded = base64.b64encode(b"u" * offset + raw)
        found[f"base64+{offset}"] = encoded[4 : 4 * (len(encoded) // 4) - 4]
    return found


def leaks(blob: bytes, secret: str) -> list[str]:
    """The encodings found in ``blob``; base64 also with its lines joined (``base64`` wraps)."""
    joined = blob.replace(b"\r", b"").replace(b"\n", b"")
    found = []
    for name, encoded in encodings(secret).items():
        if name.startswith("base64"):
            pieces = {encoded[i : i + 2 * GRAM] for i in range(len(encoded) - 2 * GRAM + 1)}
            if any(piece in joined for piece in pieces):
                found.append(name)
        elif encoded in blob:
            found.append(name)
    return found


async def run_stage(project: Path, monkeypatch: pytest.MonkeyPatch, run: str | list[str]):
    """One stage with both secrets through a Session: (its events, every stored byte by file)."""
    monkeypatch.setenv("MASK_TOKEN", TOKEN)
    monkeypatch.setenv("MASK_LONG", LONG)
    data = {
        "project": "p",
        "secrets": {"TOKEN": {"env": "MASK_TOKEN"}, "LONG": {"env": "MASK_LONG"}},
        "phases": [{"name": "A", "stages": [{"name": "leaky", "run": run}]}],
    }
    (project / "cdtui.yaml").write_text(json.dumps(data))
    session = Session(project)
    assert session.load() == []
    seen: list[Event] = []
    session.start(session.plan(), [seen.append], options=EngineOptions())
    status = await session.task
    session.close()
    stored = {
        str(path.relative_to(project)): path.read_bytes()
        for path in (project / ".cdtui").rglob("*")
        if path.is_file()
    }
    return status, seen, stored


def event_text(seen: list[Event]) -> bytes:
    """Every text field of every event: what the screen, notices and notifiers are given."""
    texts = (getattr(e, f.name) for e in seen for f in dataclasses.fields(e))
    return "\n".join(t for t in texts if isinstance(t, str)).encode()


def assert_nowhere(seen: list[Event], stored: dict[str, bytes]) -> None:
    events = event_text(seen)
    assert b"***" in events
    for secret in (TOKEN, LONG):
        assert leaks(events, secret) == [], "in the events"
        for name, blob in stored.items():
            assert leaks(blob, secret) == [], name


def output_of(seen: list[Event], stream: str | None = None) -> str:
    return "".join(
        e.text for e in seen if isinstance(e, StageOutput) and stream in (None, e.stream)
    )


PRINT_EACH = """
import base64, json, os, sys
from urllib.parse import quote, quote_plus
for name in ("TOKEN", "LONG"):
    s = os.environ[name]
    b = s.encode()
    print(s, b.hex(), b.hex().upper(), quote(s, safe=""), quote(s), quote_plus(s), sep="\\n")
    print(json.dumps({"token": s}), repr(s), repr(b), ascii(s), sep="\\n")
    print("Authorization: Basic " + base64.b64encode(b"user:" + b).decode())
    print(base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode())
"""


async def test_a_stage_printing_each_encoding_leaks_none(tmp_path, monkeypatch):
    status, seen, stored = await run_stage(
        tmp_path, monkeypatch, [sys.executable, "-c", PRINT_EACH]
    )
    assert status is Status.SUCCEEDED
    assert_nowhere(seen, stored)


async def test_bash_xtrace_and_printf_q_leak_nothing(tmp_path, monkeypatch):
    script = 'set -x; args=(--token "$TOKEN"); : "${args[@]}"; printf "%q\\n" "$TOKEN" "$LONG"'
    status, seen, stored = await run_stage(tmp_path, monkeypatch, ["bash", "-c", script])
    assert status is Status.SUCCEEDED
    assert "+ : --token '***'" in output_of(seen)  # the trace is kept, the value is not
    assert_nowhere(seen, stored)


async def test_wrapped_base64_and_hex_dumps_are_masked_line_by_line(tmp_path, monkeypatch):
    script = (
        'printf %s "$LONG" | base64; printf "user:%s" "$LONG" | base64 -w 64;'
        'printf "header %s trailer" "$LONG" | base64; printf %s "$LONG" | xxd -p'
    )
    status, seen, stored = await run_stage(tmp_path, monkeypatch, script)
    assert status is Status.SUCCEEDED
    assert output_of(seen).count("***") >= 12  # 4 + 5 + 4 base64 lines, 7 hex lines: each masked
    assert_nowhere(seen, stored)


TRACEBACK = """
import os, traceback
config = {"token": os.environ["TOKEN"], "long": os.environ["LONG"]}
try:
    raise RuntimeError(config)
except RuntimeError:
    traceback.print_exc()
"""


async def test_a_traceback_with_the_repr_of_a_secret_leaks_nothing(tmp_path, monkeypatch):
    status, seen, stored = await run_stage(tmp_path, monkeypatch, [sys.executable, "-c", TRACEBACK])
    assert status is Status.SUCCEEDED
    assert "RuntimeError: {'token': '***', 'long': '***'}" in output_of(seen)
    assert_nowhere(seen, stored)


async def test_an_argv_run_with_a_quote_in_the_secret_is_stored_masked(tmp_path, monkeypatch):
    status, seen, stored = await run_stage(tmp_path, monkeypatch, ["echo", "--token", TOKEN])
    assert status is Status.SUCCEEDED
    (started,) = [e for e in seen if isinstance(e, StageStarted)]
    assert started.command == "echo --token '***'"
    assert_nowhere(seen, stored)


METRIC = """
import json, os
with open(os.environ["CDTUI_METRICS"], "w") as fh:
    fh.write(json.dumps({"name": "login " + os.environ["TOKEN"], "value": 1,
                         "unit": os.environ["LONG"]}) + "\\n")
"""


async def test_a_metric_named_with_a_secret_is_kept_masked(tmp_path, monkeypatch):
    status, seen, stored = await run_stage(tmp_path, monkeypatch, [sys.executable, "-c", METRIC])
    assert status is Status.SUCCEEDED
    assert any(name.endswith(".metrics.jsonl") for name in stored)
    (metric,) = [e for e in seen if isinstance(e, MetricRecorded)]
    assert (metric.name, metric.unit) == ("login ***", "***")
    assert_nowhere(seen, stored)
