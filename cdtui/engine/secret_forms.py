"""The shapes a secret takes in the output of everyday tools, each a byte string to mask.

Tools rarely print a secret as it is: a URL carries it percent-encoded, JSON escapes its
quotes, ``bash -x`` and ``printf %q`` shell-quote it, a traceback shows its ``repr``, and
``base64`` or ``xxd -p`` encode it (and wrap the encoding: see ``wrappable_forms``).
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MIN_FORM_LENGTH = 6  # a line of a multi-line secret, or a base64 core, shorter than this is kept
_PERCENT = re.compile(r"%[0-9A-F]{2}")
# What bash's ``printf %q`` backslash-escapes anywhere in a word (``#`` and ``~`` only first).
_PRINTF_Q = re.compile(r"""([ \t!"$&'()*,;<>?\[\\\]^`{|}])""")
_DOUBLE_QUOTED = re.compile(r'(["\\$`])')
_UNESCAPED = re.compile(r"[A-Za-z0-9_.-]+")


def base64_cores(value: bytes) -> set[bytes]:
    """The base64 text that any encoding containing ``value`` must contain, per alignment.

    The characters at each edge depend on the neighbouring bytes, so they are dropped; what is
    left is in every encoding of ``prefix + value + suffix`` whose prefix has that length mod 3.
    """
    cores: set[bytes] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).rstrip(b"=")
        drop = (0, 2, 3)[offset]
        total = offset + len(value)
        keep = 4 * (total // 3) + (0, 1, 2)[total % 3]
        core = encoded[drop:keep]
        if len(core) >= MIN_FORM_LENGTH:
            cores.add(core)
            cores.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return cores


def wrappable_forms(value: str) -> set[bytes]:
    """Forms that tools wrap at a fixed width (``base64`` at 76, ``xxd -p`` at 60 columns)."""
    raw = value.encode()
    return base64_cores(raw) | {raw.hex().encode(), raw.hex().upper().encode()}


def _url_forms(value: str) -> set[str]:
    forms: set[str] = set()
    for safe in ("", "/", "!'()*~"):  # quote()'s default keeps "/", encodeURIComponent keeps more
        for encoded in (quote(value, safe=safe), quote_plus(value, safe=safe)):
            forms.add(encoded)
            forms.add(_PERCENT.sub(lambda m: m.group().lower(), encoded))
    return forms


def _json_forms(value: str) -> set[str]:
    escaped = json.dumps(value)[1:-1]
    return {escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}


def _shell_forms(value: str) -> set[str]:
    """Inside single quotes (``shlex.quote`` and bash xtrace split a ``'`` differently),
    ``printf %q`` backslashes, and inside double quotes."""
    forms = {
        value.replace("'", "'\"'\"'"),  # shlex.quote / shlex.join
        value.replace("'", "'\\''"),  # bash -x, ${var@Q}
        _DOUBLE_QUOTED.sub(r"\\\1", value),
    }
    printf_q = _PRINTF_Q.sub(r"\\\1", value)
    forms.add(printf_q)
    if printf_q[:1] in ("#", "~"):
        forms.add("\\" + printf_q)
    return forms


def _repr_forms(value: str) -> set[str]:
    """Python's ``repr`` and ``ascii`` of the text and of its bytes, inside their quotes, and
    each quote style forced (a ``repr`` of a string holding both quotes escapes one)."""
    backslashed = value.replace("\\", "\\\\")
    return {
        repr(value)[1:-1],
        ascii(value)[1:-1],
        repr(value.encode())[2:-1],
        backslashed.replace("'", "\\'"),
        backslashed.replace('"', '\\"'),
    }


def escaped_forms(value: str) -> set[bytes]:
    """The value as it is and escaped for URLs, JSON, shells and Python: each escape rewrites
    some characters and keeps the rest, so all of them contain ``safe_anchor(value)``."""
    texts = {value} | _url_forms(value) | _json_forms(value) | _shell_forms(value)
    return {t.encode() for t in texts | _repr_forms(value)}


def line_forms(value: str) -> set[bytes]:
    """Each line of a multi-line value (a key file), masked on its own."""
    if "\n" not in value:
        return set()
    lines = (line.strip() for line in value.splitlines())
    return {line.encode() for line in lines if len(line) >= MIN_FORM_LENGTH}


def safe_anchor(value: str) -> bytes:
    """The longest run of characters that no escape rewrites (letters, digits, ``_.-``)."""
    runs = _UNESCAPED.findall(value)
    return max(runs, key=len).encode() if runs else b""
