"""Terminal-safe text: what a stage wrote, made harmless for the operator's terminal.

A stage's output (and the metric and artifact names it chooses) reaches headless output,
``cdtui logs`` and the console. Passed raw, it could clear the screen, retitle the window,
write the clipboard (OSC 52), plant links (OSC 8) or send DCS strings to the terminal. So:

- kept: ``\\t``, ``\\n`` and SGR colour sequences (``ESC [`` digits ``;`` ``:`` ``m``);
- ``\\r`` inside a line: the line shows its last state, as a terminal would leave it
  (``50%\\r100%`` shows ``100%``; a ``\\r`` ending the line, as in CRLF, is dropped);
- every other control shown, not obeyed: C0 controls, ESC and DEL as their Unicode control
  pictures (``␛ ␇ ␈ ␡``, U+2400-U+2421), so ``ESC ] 52 ; c ; … BEL`` reads ``␛]52;c;…␇``;
  C1 controls (U+0080-U+009F, which have no picture) as ``\\x9b``-style hex escapes.

Pure functions on ``str``; text with nothing to change is returned as is after one regex scan.
"""

from __future__ import annotations

import re

_PICTURES = {chr(c): chr(0x2400 + c) for c in range(32) if c not in (9, 10)}
_PICTURES["\x7f"] = "\u2421"
_PICTURES.update({chr(c): f"\\x{c:02x}" for c in range(0x80, 0xA0)})
# ESC not opening an SGR sequence, or any other control but \t and \n (and \r, handled first).
_UNSAFE = re.compile(r"\x1b(?!\[[0-9;:]*m)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_LONE_ESC = re.compile(r"\x1b(?!\[[0-9;:]*m)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")  # all but \t \n ESC
_DROP_ASCII_CONTROLS = str.maketrans(
    dict.fromkeys([*range(9), *range(11, 27), *range(28, 32), 127])
)
_PARTIAL_SGR = re.compile(r"\x1b(?:\[[0-9;:]*)?\Z")


def _escaped(text: str) -> str:
    """The escaping itself, after a fast check: most text has no control but SGR's ESC.

    ``str.translate`` deleting runs at memory speed on ASCII, several times the regex scan."""
    if text.isascii():
        clean = len(text.translate(_DROP_ASCII_CONTROLS)) == len(text)
    else:
        clean = _CONTROL.search(text) is None
    if clean and ("\x1b" not in text or _LONE_ESC.search(text) is None):
        return text
    return _UNSAFE.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    return _PICTURES[match.group()[0]]


def last_state(line: str) -> str:
    """One line (no ``\\n``) as a terminal leaves it after its carriage returns.

    Later text overwrites earlier text from the start of the line; when escape sequences make
    the columns unknowable, the text after the last carriage return stands for the line.
    """
    line = line.rstrip("\r")
    if "\r" not in line:
        return line
    pieces = line.split("\r")
    if "\x1b" in line:
        return pieces[-1]
    shown = ""
    for piece in pieces:
        shown = piece + shown[len(piece) :]
    return shown


def safe(text: str) -> str:
    """Text of one or more lines, ready for a terminal: carriage returns resolved per line,
    then every other control made visible (see the module docstring)."""
    if "\r" in text:
        text = "\n".join(last_state(line) if "\r" in line else line for line in text.split("\n"))
    return _escaped(text)


def safe_line(line: str, limit: int | None = None) -> str:
    """One line as :func:`safe` shows it, cut to ``limit`` characters before escaping (a cut
    never splits an SGR sequence into visible junk: a trailing partial one is dropped)."""
    line = last_state(line)
    if limit is not None and len(line) > limit:
        line = _PARTIAL_SGR.sub("", line[:limit])
    return _escaped(line)


def plain(text: str) -> str:
    """A name (metric, artifact, stage-chosen label) for one line: controls visible, SGR too.

    A name is no place for colour, and a newline in it would forge a line of output."""
    return _UNSAFE.sub(_picture, _SGR.sub(_picture_sgr, text.replace("\r", "\u240d"))).replace(
        "\n", "\u2424"
    )


def _picture_sgr(match: re.Match[str]) -> str:
    return "\u241b" + match.group()[1:]
