"""``if:`` expressions: a small grammar, parsed (never ``eval``'d) when the file loads.

    expr    := or
    or      := and (("||" | "or") and)*
    and     := not (("&&" | "and") not)*
    not     := ("!" | "not") not | compare
    compare := atom (("==" | "!=") atom)?
    atom    := STRING | "true" | "false" | "branch" | "env.NAME" | "matrix.NAME"
             | "changed(" STRING ("," STRING)* ")" | "(" expr ")"

A bare name (``env.CI``) is true when it is set and not empty. ``changed("src/**")`` is true when
a file matching one of the globs differs between the revision under test and its base (see
``cdtui.engine.changes``). Errors name the column inside the expression.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cdtui.config.errors import did_you_mean


class ConditionError(ValueError):
    """An expression that does not parse; the message names the column and what was expected."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|&&|\|\||!|\(|\)|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)
    )""",
    re.VERBOSE,
)
_WORDS = {"and": "&&", "or": "||", "not": "!"}
NAMES = ("branch", "env.NAME", "matrix.NAME", "changed(...)", "true", "false")


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | name | end
    text: str
    column: int  # 1-based


def tokens(text: str) -> list[Token]:
    found: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            raise ConditionError(f"unexpected {text[column - 1]!r} at column {column}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "name" and value in _WORDS:
            kind, value = "op", _WORDS[value]
        found.append(Token(kind, value, column))
        position = match.end()
    found.append(Token("end", "", len(text) + 1))
    return found


# -- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What an expression can see when its stage is about to start."""

    branch: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    matrix: Mapping[str, str] = field(default_factory=dict)
    changed: Callable[[tuple[str, ...]], bool] = lambda _globs: False


Node = Callable[[Context], "str | bool"]


@dataclass(frozen=True)
class Condition:
    """A parsed expression: ``holds(context)``; ``names`` lists the ``matrix.X`` it reads."""

    text: str
    node: Node
    matrix_names: tuple[str, ...] = ()

    def holds(self, context: Context) -> bool:
        return _truthy(self.node(context))


def _truthy(value: str | bool) -> bool:
    return value if isinstance(value, bool) else value != ""


def parse(text: str) -> Condition:
    if text.strip().startswith("${{"):
        raise ConditionError(
            "GitHub's ${{ ... }} is not needed here: write the expression bare, "
            'e.g. branch == "main" && env.DEPLOY == "1"'
        )
    parser = _Parser(tokens(text))
    node = parser.expression()
    token = parser.peek()
    if token.kind != "end":
        raise ConditionError(f"unexpected {token.text!r} at column {token.column}")
    return Condition(text, node, tuple(dict.fromkeys(parser.matrix)))


class _Parser:
    def __init__(self, found: list[Token]) -> None:
        self.found = found
        self.index = 0
        self.matrix: list[str] = []

    def peek(self) -> Token:
        return self.found[self.index]

    def take(self, text: str | None = None) -> Token | None:
        token = self.peek()
        if token.kind != "end" and (text is None or (token.kind == "op" and token.text == text)):
            self.index += 1
            return token
        return None

    def expect(self, text: str, what: str) -> Token:
        token = self.take(text)
        if token is None:
            here = self.peek()
            shown = repr(here.text) if here.kind != "end" else "the end"
            raise ConditionError(f"expected {what} at column {here.column}, found {shown}")
        return token

    def expression(self) -> Node:
        left = self.conjunction()
        while self.take("||"):
            right, first = self.conjunction(), left
            left = _or(first, right)
        return left

    def conjunction(self) -> Node:
        left = self.negation()
        while self.take("&&"):
            right, first = self.negation(), left
            left = _and(first, right)
        return left

    def negation(self) -> Node:
        if self.take("!"):
            inner = self.negation()
            return lambda ctx: not _truthy(inner(ctx))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.atom()
        for op in ("==", "!="):
            if self.take(op):
                right = self.atom()
                return _compare(left, right, op == "==")
        return left

    def atom(self) -> Node:
        token = self.peek()
        if token.kind == "end":
            raise ConditionError(f"expected a value at column {token.column}, found the end")
        if self.take("("):
            inner = self.expression()
            self.expect(")", "')'")
            return inner
        if token.kind == "string":
            self.index += 1
            value = _unquote(token.text)
            return lambda _ctx: value
        if token.kind != "name":
            raise ConditionError(f"expected a value at column {token.column}, found {token.text!r}")
        self.index += 1
        return self._name(token)

    def _name(self, token: Token) -> Node:
        name = token.text
        if name in ("true", "false"):
            value = name == "true"
            return lambda _ctx: value
        if name == "branch":
            return lambda ctx: ctx.branch
        if name == "changed":
            self.expect("(", "'(' after changed")
            globs = [self._string('a glob like "src/**"')]
            while self.take(","):
                globs.append(self._string("a glob"))
            self.expect(")", "')'")
            patterns = tuple(globs)
            return lambda ctx: ctx.changed(patterns)
        head, _, rest = name.partition(".")
        if head == "env" and rest:
            return lambda ctx: ctx.env.get(rest, "")
        if head == "matrix" and rest:
            self.matrix.append(rest)
            return lambda ctx: ctx.matrix.get(rest, "")
        known = ["branch", "env", "matrix", "changed", "true", "false"]
        close = did_you_mean(head, known)
        hint = f"; did you mean {close!r}?" if close else f" (known: {', '.join(NAMES)})"
        if head in ("env", "matrix"):
            hint = f": write {head}.NAME"
        elif close is None and self._after_comparison():
            hint = f'; a string? quote it: "{name}"'
        raise ConditionError(f"unknown name {name!r} at column {token.column}{hint}")

    def _after_comparison(self) -> bool:
        """The name just taken stands right of ``==``/``!=``: most likely an unquoted string."""
        before = self.found[self.index - 2] if self.index >= 2 else None
        return before is not None and before.kind == "op" and before.text in ("==", "!=")

    def _string(self, what: str) -> str:
        token = self.peek()
        if token.kind != "string":
            shown = repr(token.text) if token.kind != "end" else "the end"
            raise ConditionError(f"expected {what} at column {token.column}, found {shown}")
        self.index += 1
        return _unquote(token.text)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _or(left: Node, right: Node) -> Node:
    return lambda ctx: _truthy(left(ctx)) or _truthy(right(ctx))


def _and(left: Node, right: Node) -> Node:
    return lambda ctx: _truthy(left(ctx)) and _truthy(right(ctx))


def _compare(left: Node, right: Node, equal: bool) -> Node:
    def compare(ctx: Context) -> bool:
        a, b = left(ctx), right(ctx)
        if isinstance(a, bool) or isinstance(b, bool):
            a, b = _truthy(a), _truthy(b)
        return (a == b) is equal

    return compare


# -- globs for changed() ---------------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses directories, ``*`` and ``?`` do not; ``dir/`` or ``dir/**`` is the tree."""
    out, index = [], 0
    if pattern.endswith("/"):
        pattern += "**"
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(out) + r"\Z")


@functools.lru_cache(maxsize=512)
def parse_cached(text: str) -> Condition:
    """Conditions are parsed once per distinct text (models are frozen; the text is the key)."""
    return parse(text)
