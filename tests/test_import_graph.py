"""No import cycles among cdtui modules: a cycle makes load order matter and hides who owns what.

Top-level imports must form no cycle. Function-level imports (how heavy modules load late) are
checked too: a lazy import that closes a cycle only hides it. The graph is read from the source
with ``ast``, so nothing is imported to check it; ``TYPE_CHECKING`` imports never run, so they
do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cdtui.config.checks import _strongly_connected

ROOT = Path(__file__).resolve().parent.parent / "cdtui"

KNOWN_CYCLE_MODULES: frozenset[str] = frozenset()
"""None left: the engine no longer imports the release package (stages/ plug in instead)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``name``)."""
    if node.level == 0:
        return node.module or ""
    base = name.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path, modules: set[str], *, top_level: bool) -> set[str]:
    """cdtui modules ``path`` imports at module level (also under if/try), or inside functions."""
    name = module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function != top_level:
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                else:
                    base = _resolve(child, name, path.name == "__init__.py")
                    targets = [base] + [f"{base}.{alias.name}" for alias in child.names]
                for target in targets:
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target and target != name:
                        found.add(target)
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # typing-only imports never run
            visit(child, nested)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(*, top_level: bool = True) -> dict[str, set[str]]:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: imports(path, modules, top_level=top_level) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import one another (each sorted): the pipeline's own cycle finder."""
    groups = _strongly_connected({name: sorted(targets) for name, targets in graph.items()})
    return sorted(sorted(group) for group in groups if len(group) > 1)


def without_known(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph minus the known modules, so any cycle left does not run through one of them."""
    return {
        name: targets - KNOWN_CYCLE_MODULES
        for name, targets in graph.items()
        if name not in KNOWN_CYCLE_MODULES
    }


def test_the_graph_sees_real_imports() -> None:
    top, lazy = import_graph(), import_graph(top_level=False)
    assert "cdtui.runners.ssh_process" in top["cdtui.runners.ssh"]
    assert "cdtui.runners.ssh_process" not in lazy["cdtui.runners.ssh"]
    assert "cdtui.ui.app" in lazy["cdtui.commands.open"]  # textual loads only for the console
    assert "cdtui.ui.app" not in top["cdtui.commands.open"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_top_level_import_cycle() -> None:
    assert cycles(without_known(import_graph())) == []


def test_no_cycle_closed_by_a_lazy_import() -> None:
    top, lazy = import_graph(), import_graph(top_level=False)
    assert cycles(without_known({name: top[name] | lazy[name] for name in top})) == []
