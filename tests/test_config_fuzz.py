"""Malformed pipeline files of every kind give located ConfigErrors, never another exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdtui.config import ConfigError, format_errors, load_pipeline
from cdtui.config.errors import FILE_PATH

BASE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "data" / "config" / "valid.yaml").read_text(encoding="utf-8")
)
ENV = {"SHOP_DB_PASSWORD": "long-enough-secret"}
FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

words = st.sampled_from(
    ["build", "unit", "lint", "bdd", "package", "deploy", "10 parsecs", "10s", "", "confirm",
     "auto", "always", "needs", "neds", "run", "stages", "-1", "on", "no", "~", "SHOP_DB_PASSWORD"]
)  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | words
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | words, inner, max_size=3)
    ),
    max_leaves=8,
)
snippets = st.sampled_from(
    ["&a ", "*a", "*zz", "!!python/object:os.system ", "!tag ", "<<: *a\n", "? ", "- ", ": ",
     "{", "}", "[", "]", "\t", "\n---\n", "%YAML 1.1\n", "'", '"', "\\", "#", "\x00", "\x85",
     "\ufeff", "  ", "\n  ", "!!int ", "!!binary ", "&a [*a]", "needs: [", "\r\n"]
)  # fmt: skip


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into the document: the places a mutation can hit."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, (*prefix, index))
    return found


def mutate(doc: Any, data: st.DataObject) -> Any:
    """One structural change: rename a key, swap a value, delete, nest, or retarget a need."""
    targets = [p for p in paths_of(doc) if p]
    if not targets:
        return data.draw(values)
    path = data.draw(st.sampled_from(targets))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = data.draw(st.sampled_from(["rename", "swap", "delete", "nest", "need", "dup"]))
    if op == "rename" and isinstance(parent, dict):
        new = data.draw(words | st.text(max_size=8).map(lambda t: f"{last}{t}"[1:]))
        parent[new] = parent.pop(last)
    elif op == "delete":
        del parent[last]
    elif op == "nest":
        parent[last] = data.draw(st.sampled_from([[parent[last]], {"x": parent[last]}]))
    elif op == "need":
        parent[last] = {"name": data.draw(words), "run": "x", "needs": data.draw(st.lists(words))}
    elif op == "dup" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    else:
        parent[last] = data.draw(values)
    return doc


def check(path: Path) -> None:
    """The property: loads, or every error is located (line 0 only for the whole file)."""
    try:
        load_pipeline(path, environ=ENV)
    except ConfigError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.message and error.path, error
            assert "internal error" not in error.message, error.message
            if error.line == 0:
                assert (error.col, error.path) == (0, FILE_PATH), error
            else:
                assert error.line >= 1 and error.col >= 1, error
            assert str(error)
        assert format_errors(exc.errors)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "cdtui.yaml"


@settings(FUZZ, max_examples=1200)
@given(data=st.data())
def test_structural_mutations(target: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        doc = mutate(doc, data)
    flow = data.draw(st.booleans())
    target.write_text(yaml.safe_dump(doc, default_flow_style=flow, sort_keys=False))
    check(target)


@settings(FUZZ, max_examples=600)
@given(data=st.data())
def test_text_mutations(target: Path, data: st.DataObject) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False, default_flow_style=data.draw(st.booleans()))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(snippets | st.text(max_size=6)) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 40)) :]
    target.write_bytes(text.encode("utf-8", "surrogatepass"))
    check(target)


@settings(FUZZ, max_examples=300)
@given(
    blob=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_garbage_bytes(target: Path, blob: bytes) -> None:
    target.write_bytes(blob)
    check(target)
