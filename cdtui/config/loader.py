"""Reads the pipeline file into a Pipeline; each problem becomes a located error, never a traceback.

YAML is composed into nodes (safe loader) and walked here, so that only plain data gets through,
each value's line is known, duplicate keys are caught, and alias bombs stop at a node budget.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cdtui.config.checks import check_secret_refs, check_structure
from cdtui.config.durations import UNITS_REQUIRED
from cdtui.config.errors import (
    FILE_PATH,
    ConfigError,
    LocatedError,
    PathKey,
    SourceMap,
    describe,
    format_path,
    ordered,
    syntax_error,
)
from cdtui.config.habits import check_habits
from cdtui.config.models import Pipeline
from cdtui.config.stage_refs import check_stage_refs
from cdtui.config.validation import validation_errors

DEFAULT_FILE = "cdtui.yaml"
MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 50

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_STD + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MERGE, _VALUE, _SEQ, _MAP = (
    _STD + t for t in ("timestamp", "merge", "value", "seq", "map")
)
_TYPED = {_INT: "whole number", _FLOAT: "number", _BOOL: "boolean", _NULL: "null value"}


def find_pipeline_file(project_dir: Path, file: Path | None = None) -> Path:
    """The pipeline to load: an explicit file (relative to the cwd) wins, else DIR/cdtui.yaml."""
    project_dir = Path(project_dir)
    path = Path(file) if file is not None else project_dir / DEFAULT_FILE
    if path.is_file():
        return path
    if path.is_dir():
        message, hint = (
            "is a directory, not a pipeline file",
            f"did you mean {path / DEFAULT_FILE}?",
        )
    elif path.exists():
        message, hint = "is not a regular file", "pass the path of a YAML pipeline file"
    elif file is not None:
        message, hint = (
            "file not found",
            "paths given with --file are relative to the current directory",
        )
    elif not project_dir.is_dir():
        message, hint = "file not found", f"the project directory {project_dir} does not exist"
    elif (project_dir / "cdtui.yml").is_file():
        message, hint = "file not found", f"found cdtui.yml; rename it to {DEFAULT_FILE}"
    else:
        message = "file not found"
        hint = f"create {DEFAULT_FILE} (sample_project/cdtui.yaml is a full example) or pass --file"
    raise ConfigError([LocatedError(str(path), 0, 0, FILE_PATH, message, hint)])


def load_pipeline(
    path: Path, *, environ: Mapping[str, str] | None = None, check_secrets: bool = True
) -> Pipeline:
    """The validated pipeline, or ConfigError listing every problem found (not only the first)."""
    path = Path(path)
    try:
        return _load(path, os.environ if environ is None else environ, check_secrets)
    except ConfigError:
        raise
    except Exception as exc:  # the promise: no input file ever yields a traceback
        raise ConfigError(
            [
                LocatedError(
                    str(path),
                    0,
                    0,
                    FILE_PATH,
                    f"internal error while loading: {type(exc).__name__}: {exc}",
                    "this is a cdtui bug; please report it with the pipeline file",
                )
            ]
        ) from exc


def _load(path: Path, environ: Mapping[str, str], check_secrets: bool) -> Pipeline:
    name = str(path)
    root = _compose(_read_text(path), name)
    walker = _Walker(name)
    data = walker.document(root)
    errors = list(walker.errors)
    if not isinstance(data, dict):
        if not walker.source.is_bad(()):
            errors.append(
                walker.source.error(
                    (), f"expected a mapping with project: and phases:, got {describe(data)}"
                )
            )
        raise ConfigError(ordered(errors))
    pipeline = None
    try:
        pipeline = Pipeline.model_validate(data, context=_context(root))
    except ValidationError as exc:
        errors += validation_errors(exc, data, walker.source, Pipeline)
    errors += check_structure(data, walker.source)
    errors += check_habits(data, walker.source)
    errors += check_stage_refs(data, walker.source)
    if check_secrets:
        errors += check_secret_refs(data, walker.source, environ)
    if errors or pipeline is None:
        raise ConfigError(ordered(errors))
    return pipeline


def _context(root: yaml.Node) -> dict[str, bool]:
    """A YAML file names its durations' units; a JSON one (``{...}`` at the top), which scripts
    write, may give plain seconds."""
    json_like = isinstance(root, yaml.MappingNode) and root.flow_style is True
    return {UNITS_REQUIRED: not json_like}


def _whole_file(
    path: Path, message: str, hint: str = "", line: int = 0, col: int = 0
) -> ConfigError:
    return ConfigError([LocatedError(str(path), line, col, FILE_PATH, message, hint)])


def _read_text(path: Path) -> str:
    """The file as text, bounded in size; the reasons it cannot be read become whole-file errors."""
    try:
        if path.is_dir():
            raise _whole_file(
                path, "is a directory, not a pipeline file", f"did you mean {path / DEFAULT_FILE}?"
            )
        if not path.exists():
            raise _whole_file(path, "file not found")
        if not path.is_file():
            raise _whole_file(path, "is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _whole_file(path, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise _whole_file(
            path, f"the file is larger than {MAX_BYTES // 1024} KiB", "is this the pipeline file?"
        )
    try:
        data = data.removeprefix(codecs.BOM_UTF8)
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _whole_file(
            path,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8",
            line,
            col,
        ) from None
    if not text.strip():
        raise _whole_file(path, "the file is empty", "start with project: NAME and a phases: list")
    return text


def _compose(text: str, name: str) -> yaml.Node:
    """YAML nodes; nesting is bounded first: deep nesting is slow to parse and crashes compose."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise ConfigError(
                        [_at(name, mark, f"nested more than {MAX_DEPTH} levels deep")]
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in (exc.problem or ""):
            # libyaml >= 0.2.5 (PyYAML 6.0.4 wheels) bounds flow nesting in its scanner, which
            # reads ahead of the events counted above: same fault, so the same message.
            raise ConfigError(
                [_at(name, exc.problem_mark, f"nested more than {MAX_DEPTH} levels deep")]
            ) from None
        raise ConfigError([syntax_error(exc, text, name)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([syntax_error(exc, text, name)]) from None
    if root is None:
        raise ConfigError(
            [
                LocatedError(
                    name,
                    0,
                    0,
                    FILE_PATH,
                    "the file holds only comments",
                    "add project: and phases:",
                )
            ]
        )
    return root


def _at(name: str, mark: Any, message: str, hint: str = "", path: str = FILE_PATH) -> LocatedError:
    return LocatedError(name, mark.line + 1, mark.column + 1, path, message, hint)


class _NodeBudget(Exception):
    """Raised from deep inside the walk when aliases expand the document past MAX_NODES."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


class _Walker:
    """Turns YAML nodes into plain data and notes where each value came from."""

    def __init__(self, name: str) -> None:
        self.source = SourceMap(name)
        self.errors: list[LocatedError] = []
        self._visited = 0
        self._open: set[int] = set()
        self._constructor = yaml.constructor.SafeConstructor()

    def document(self, root: yaml.Node) -> Any:
        try:
            return self.value(root, ())
        except _NodeBudget as budget:
            raise ConfigError(
                [
                    _at(
                        self.source.file,
                        budget.node.start_mark,
                        f"the document expands to more than {MAX_NODES} values",
                        "aliases (*name) count each time they are used; write the values out",
                    )
                ]
            ) from None

    def fail(
        self, node: yaml.Node, path: PathKey, message: str, hint: str = "", *, poison: bool = True
    ) -> None:
        self.errors.append(_at(self.source.file, node.start_mark, message, hint, format_path(path)))
        if poison:
            self.source.bad.add(path)

    def value(self, node: yaml.Node, path: PathKey) -> Any:
        self._visited += 1
        if self._visited > MAX_NODES:
            raise _NodeBudget(node)
        mark = node.start_mark
        self.source.values[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if len(path) >= MAX_DEPTH:
            self.fail(node, path, f"nested more than {MAX_DEPTH} levels deep (through aliases)")
            return None
        if id(node) in self._open:
            self.fail(
                node,
                path,
                "an alias refers to a collection that contains it",
                "recursive data is not allowed",
            )
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                return [self.value(child, (*path, i)) for i, child in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                return self._mapping(node, path)
            self.fail(node, path, f"unsupported tag {_show_tag(node.tag)}", _PLAIN_ONLY)
            return None
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        tag = node.tag
        if tag in (_STR, _VALUE, _TIMESTAMP):
            return node.value
        if tag not in _TYPED:
            self.fail(node, path, f"unsupported tag {_show_tag(tag)}", _PLAIN_ONLY)
            return None
        try:
            value = self._constructor.yaml_constructors[tag](self._constructor, node)
        except Exception:
            self.fail(node, path, f"{node.value[:40]!r} is not a valid {_TYPED[tag]}")
            return None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            self.fail(node, path, "number is too large")
            return None
        if not node.style:
            self.source.raw[path] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(value_node, path, result)
        first: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first:
                self.fail(
                    key_node,
                    (*path, key),
                    f"duplicate key {key[:40]!r}",
                    f"first set at line {first[key].line + 1}, column {first[key].column + 1}; "
                    "remove one",
                    poison=False,
                )
                continue
            first[key] = key_node.start_mark
            self.source.keys[(*path, key)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            result[key] = self.value(value_node, (*path, key))
        return result

    def _merge(self, node: yaml.Node, path: PathKey, result: dict[str, Any]) -> None:
        """``<<: *defaults``: keys written in the mapping beat merged ones; earlier merges win."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.fail(
                    source,
                    path,
                    "'<<' merges mappings only",
                    "write <<: *anchor, naming a mapping",
                    poison=False,
                )
                continue
            own_position = self.source.values[path]
            merged = self.value(source, path)
            self.source.values[path] = own_position
            if isinstance(merged, dict):
                for key, value in merged.items():
                    result.setdefault(key, value)

    def _key(self, node: yaml.Node, path: PathKey) -> str | None:
        """Keys are text; a plain ``on:`` or ``yes:`` is the word, as in YAML 1.2."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag in (_STR, _VALUE, _TIMESTAMP) or (node.tag == _BOOL and not node.style):
                return node.value
            if node.tag in _TYPED and not node.style:
                text = node.value
                message = (
                    "empty key"
                    if not text or text == "~"
                    else f"YAML reads the key {text[:40]!r} as a {_TYPED[node.tag]}, not text"
                )
                self.fail(node, (*path, text), message, f'quote it: "{text[:40]}"', poison=False)
                return None
        self.fail(node, path, "keys must be plain text", "quote the key", poison=False)
        return None


_PLAIN_ONLY = "only plain YAML is accepted: text, numbers, true/false, null, lists and mappings"


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag[:60]
