"""LogFile: a growing log read by line number in bounded memory, searched in chunks."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

import cdtui.ui.logfile as logfile
from cdtui.store.logs import STDERR, STDOUT, LogWriter
from cdtui.ui.logfile import STEP, LogFile


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_missing_file_has_no_lines_until_it_appears(tmp_path: Path):
    path = tmp_path / "later.log"
    log = LogFile(path)
    assert (log.refresh(), log.line_count, log.pending(), log.tail(5)) == (0, 0, 0, [])
    append(path, b"first\n")
    assert log.refresh() == 1
    assert log.lines(0, 10) == ["first"]


def test_partial_last_line_is_shown_then_completed(tmp_path: Path):
    path = tmp_path / "grow.log"
    log = LogFile(path)
    append(path, b"one\ntw")
    assert log.refresh() == 2
    assert log.tail(2) == ["one", "tw"]
    append(path, b"o\n")
    assert log.refresh() == 0  # same count: the last line grew
    assert log.line(1) == "two"
    append(path, b"three")
    log.refresh()
    assert (log.line_count, log.line(2)) == (3, "three")
    assert log.pending() == 0


def test_crlf_bad_utf8_and_truncation(tmp_path: Path):
    path = tmp_path / "odd.log"
    path.write_bytes(b"dos\r\nbad \xff\xfe byte\n")
    log = LogFile(path)
    log.refresh()
    assert log.lines(0, 2) == ["dos", "bad \ufffd\ufffd byte"]
    path.write_bytes(b"new\n")  # rotated or rewritten: read again from the start
    log.refresh()
    assert (log.resets, log.lines(0, 5)) == (1, ["new"])


def test_random_appends_match_a_plain_split(tmp_path: Path):
    path = tmp_path / "random.log"
    log = LogFile(path)
    rng = random.Random(7)
    content = b""
    for _ in range(60):
        pieces = [rng.choice([b"x" * rng.randint(0, 40), b"\n", "é".encode()]) for _ in range(900)]
        chunk = b"".join(pieces)
        append(path, chunk)
        content += chunk
        log.refresh(max_bytes=rng.choice([None, 5000]))
    log.refresh()
    expected = content.decode().split("\n")
    if content.endswith(b"\n"):
        expected.pop()
    assert log.line_count == len(expected)
    assert log.lines(0, len(expected)) == expected
    assert len(log.sparse_index) == (len(expected) - 1) // STEP + 1


def test_a_million_lines_cost_a_sparse_index_not_an_offset_per_line(tmp_path: Path):
    path = tmp_path / "big.log"
    count = 1_000_000
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(count)))
    log = LogFile(path)
    assert log.refresh() == count
    assert len(log.sparse_index) == math.ceil(count / STEP)  # 977 offsets, 8 bytes each
    for n in (0, 1023, 1024, 123_456, 999_999):
        assert log.line(n) == f"line {n}"
    assert log.tail(2) == ["line 999998", "line 999999"]
    assert log.lines(5000, 3) == ["line 5000", "line 5001", "line 5002"]
    for n in random.Random(1).sample(range(count), 200):
        assert log.line(n) == f"line {n}"
    assert len(log._cache) <= logfile.CACHE_BLOCKS
    assert list(log.search("line 99999", start=999_000)) == [999_990 + i for i in range(10)]
    assert log.first_error() is None


def test_very_long_lines_are_cut_for_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(logfile, "BLOCK_READ_MAX", 1000)
    monkeypatch.setattr(logfile, "LINE_CAP", 100)
    path = tmp_path / "long.log"
    path.write_bytes(b"short\n" + b"y" * 5000 + b"\nafter\n" + b"z" * 300)
    log = LogFile(path)
    log.refresh()
    assert log.line_count == 4
    assert log.line(0) == "short"
    assert log.line(1) == "y" * 100 + "…"
    assert log.line(2) == "after"
    assert log.line(3) == "z" * 100 + "…"
    assert list(log.search("after")) == [2]


def test_search_sees_text_through_colours_in_chunks(tmp_path: Path):
    path = tmp_path / "colour.log"
    lines = [f"{i} plain" for i in range(5000)]
    lines[10] = "\x1b[31mDeploy\x1b[0m \x1b[1mfinished\x1b[0m"
    lines[4000] = "deploy finished again"
    path.write_text("\n".join(lines) + "\n")
    log = LogFile(path)
    log.refresh()
    assert list(log.search("deploy finished")) == [10, 4000]
    assert list(log.search("deploy finished", ignore_case=False)) == [4000]
    assert list(log.search(r"^\d*9 plain$", regex=True, stop=100)) == list(range(9, 100, 10))
    assert list(log.search("deploy", start=11)) == [4000]
    assert list(log.search("31m")) == []  # escape codes are not text
    with pytest.raises(Exception, match="unterminated"):
        log.search("[", regex=True)


def test_index_gives_time_and_stream_and_first_error(tmp_path: Path):
    path = tmp_path / "stage.1.log"
    writer = LogWriter(path)
    writer.write(100.0, STDOUT, "building\nstill building\n")
    writer.write(101.5, STDOUT, "Traceback (most recent call last):\n")
    writer.write(102.0, STDERR, "warning: on stderr\n")
    writer.flush()
    log = LogFile(path)
    log.refresh()
    assert [log.line_meta(n) for n in range(4)] == [
        (100.0, STDOUT),
        (100.0, STDOUT),
        (101.5, STDOUT),
        (102.0, STDERR),
    ]
    assert log.first_stderr() == 3
    assert log.first_error(stderr=False) == 2
    assert log.first_error() == 2
    assert log.first_error(pattern=False) == 3
    writer.close()


def test_error_words_not_noise(tmp_path: Path):
    path = tmp_path / "words.log"
    path.write_text("stderr is fine\nterror\n0 errors\nValueError: bad\n")
    log = LogFile(path)
    log.refresh()
    assert log.first_error() == 2
    assert list(log.search(logfile.error_finder())) == [2, 3]


def test_without_an_index_lines_have_no_time(tmp_path: Path):
    path = tmp_path / "plain.log"
    path.write_text("a\nb\n")
    log = LogFile(path)
    log.refresh()
    assert log.line_meta(1) == (None, STDOUT)
    assert log.first_stderr() is None
