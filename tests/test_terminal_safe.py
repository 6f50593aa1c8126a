"""Terminal-safe text: a stage's escape sequences reach no operator's terminal raw.

A real stage process writes clipboard (OSC 52), clear-screen, title, OSC 8, DCS, a C1 CSI,
``\\r`` progress and SGR colours, plus a metric and an artifact named with escapes; headless
output to a pipe, ``cdtui logs`` and the console's log pane show them as visible escapes and
keep the colours and the text; ``cdtui logs --raw`` gives back the exact bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from test_log_pane import Host, opened, wait_for

from cdtui.store import RunStore
from cdtui.textsafe import last_state, plain, safe, safe_line

CDTUI = [sys.executable, "-m", "cdtui.cli"]
SGR = re.compile(r"\x1b\[[0-9;:]*m")
OUTPUT = (
    "\x1b]52;c;aGVsbG8=\x07clip\n"
    "\x1b[2J\x1b[Hcleared\n"
    "\x1b]0;title\x07titled\n"
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\\n"
    "\x1bPq#0;2;0;0;0\x1b\\dcs\n"
    "c1 \u009b2J csi\n"
    "10%\r50%\r100% done\n"
    "\x1b[31mred\x1b[0m plain\n"
    "bell\x07 del\x7f tab\tend\n"
)
ERRORS = "\x1b]0;err-title\x07on stderr\n"
METRIC = "lat\x1b]0;pwn\x07ency"
ARTIFACT = "dist/a\x1b[2Jb.txt"
STAGE = f"""\
import json, os, sys
os.makedirs("dist", exist_ok=True)
open({ARTIFACT!r}, "w").write("x")
open(os.environ["CDTUI_METRICS"], "a").write(json.dumps({{"name": {METRIC!r}, "value": 1}}) + "\\n")
sys.stdout.buffer.write({OUTPUT.encode()!r}); sys.stdout.flush()
sys.stderr.buffer.write({ERRORS.encode()!r}); sys.stderr.flush()
"""


def unsafe(text: str) -> list[str]:
    """The controls a terminal would obey, once SGR colour sequences are set aside."""
    rest = SGR.sub("", text)
    return [c for c in rest if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]


def cdtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CDTUI, *args], cwd=cwd, capture_output=True, timeout=60)


def run_hostile(project: Path) -> subprocess.CompletedProcess[bytes]:
    (project / "stage.py").write_text(STAGE)
    (project / "cdtui.yaml").write_text(
        "project: hostile\nphases:\n  - name: Build\n    stages:\n"
        f"      - name: hostile\n        run: [{json.dumps(sys.executable)}, stage.py]\n"
        '        artifacts: ["dist/*"]\n'
    )
    return cdtui("run", "--headless", str(project), cwd=project)


def assert_shown_safely(out: str) -> None:
    assert unsafe(out) == []
    assert "\x1b[31mred\x1b[0m plain" in out  # the colour kept
    for shown in (
        "␛]52;c;aGVsbG8=␇clip",
        "␛[2J␛[Hcleared",
        "␛]0;title␇titled",
        "␛]8;;http://evil.example/␛\\link␛]8;;␛\\",
        "␛Pq#0;2;0;0;0␛\\dcs",
        "c1 \\x9b2J csi",
        "bell␇ del␡ tab\tend",
        "␛]0;err-title␇on stderr",
    ):
        assert shown in out, shown
    assert "100% done" in out and "50%" not in out  # a progress line in its last state


def test_headless_output_to_a_pipe_shows_controls_and_keeps_colours(tmp_path: Path):
    result = run_hostile(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.decode()
    assert_shown_safely(out)
    assert "lat␛]0;pwn␇ency 1" in out  # the metric's name
    assert "artifact dist/a␛[2Jb.txt" in out  # the artifact's, colour sequence included


def test_cdtui_logs_show_controls_and_raw_gives_the_stored_bytes(tmp_path: Path):
    assert run_hostile(tmp_path).returncode == 0
    every = cdtui("logs", "last", str(tmp_path), cwd=tmp_path)
    one = cdtui("logs", "last", "hostile", cwd=tmp_path)
    followed = cdtui("logs", "last", "hostile", "--follow", cwd=tmp_path)
    for result in (every, one, followed):
        assert result.returncode == 0, result.stderr
        assert_shown_safely(result.stdout.decode())
    assert "hostile| ␛]0;title␇titled\n" in every.stdout.decode()

    raw = cdtui("logs", "last", "hostile", "--raw", cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout == (OUTPUT + ERRORS).encode()
    assert cdtui("logs", "last", "--raw", str(tmp_path), cwd=tmp_path).stdout == raw.stdout


async def test_the_console_log_pane_shows_no_c1_or_escape(tmp_path: Path):
    assert run_hostile(tmp_path).returncode == 0
    store = RunStore(tmp_path)
    [attempt] = [a for a in store.attempts(store.latest_run_id()) if a.attempt]
    app = Host()
    async with app.run_test(size=(100, 14)) as pilot:
        pane = await opened(pilot, attempt.log_path)
        await wait_for(pilot, lambda: pane.state.rows.lines >= 10)
        await pilot.pause()
        strips = [pane.render_line(y) for y in range(pane.size.height)]
        cells = "\n".join("".join(seg.text for seg in strip) for strip in strips)
        assert unsafe(cells) == []
        assert "\\x9b" in cells and "␛]0;title␇titled" in cells and "100% done" in cells
        red = [seg for strip in strips for seg in strip if seg.text == "red"]
        assert red and red[0].style.color is not None and red[0].style.color.number == 1


def test_the_sanitiser_forms():
    assert safe("a\x1b[1;31mb\x1b[0m\tc\n") == "a\x1b[1;31mb\x1b[0m\tc\n"
    assert safe("\x1b[?1049h\x1b[6n\x00\x1f") == "␛[?1049h␛[6n␀␟"
    assert safe("x\r\nabcdef\rXY\n") == "x\nXYcdef\n"  # CRLF and an overwrite as a terminal
    assert last_state("\x1b[32m10%\r\x1b[32m100%") == "\x1b[32m100%"
    assert safe_line("abc\x1b[31mdef", 5) == "abc"  # a cut SGR is dropped, not shown as junk
    assert plain("m\x1b[31mx\ny") == "m␛[31mx␤y"
    text = "plain ascii " * 100
    assert safe(text) is text  # nothing to change: the same object, no copy
    assert safe("é\u0085") == "é\\x85"
