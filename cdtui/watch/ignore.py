"""Which changed paths are worth a re-run: not cdtui's own state, not git's, not build outputs,
not what the project's ``.gitignore`` files ignore.

A watch loop that triggers on its own run's writes (a log, ``__pycache__``, a ``dist/`` the run
built) never stops, so the fixed rules apply whatever ``.gitignore`` says; ``.gitignore`` files
(root and nested, as git reads them) and the pipeline's ``watch: ignore:`` patterns add to them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from cdtui.store.paths import IN_TREE

ALWAYS_IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        IN_TREE,  # .cdtui: an in-tree state dir that is not the one in use (CDTUI_STATE_DIR)
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "node_modules",
        "build",
        "dist",
    }
)
"""Directory names never watched: version control, cdtui's state, caches and build outputs."""
ALWAYS_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".tmp", "~", ".egg-info")
"""Editor swap and backup files, bytecode: saved by tools, never by the person editing."""
EDITOR_PREFIXES = (".#", "#")


class IgnoreRules:
    """Decides per path, relative to the project; ``reload()`` after a ``.gitignore`` changed."""

    def __init__(
        self,
        root: Path,
        extra: Sequence[str] = (),
        own: Iterable[Path] = (),
    ) -> None:
        self.root = Path(root).resolve()
        self.extra = list(extra)
        self.own = [Path(p).resolve() for p in own]  # cdtui's state dir, its own output files
        self._specs: list[tuple[str, object]] = []  # (base dir relative to root, GitIgnoreSpec)
        self.reload()

    def reload(self) -> None:
        """Read every ``.gitignore`` under the root (skipping ignored directories) and
        ``.git/info/exclude``, then the pipeline's own patterns, which win."""
        import pathspec

        specs: list[tuple[str, object]] = []
        exclude = self.root / ".git" / "info" / "exclude"
        if exclude.is_file():
            specs.append(("", pathspec.GitIgnoreSpec.from_lines(_read_lines(exclude))))
        self._specs = specs
        for current, dirs, files in os.walk(self.root):
            base = os.path.relpath(current, self.root).replace(os.sep, "/")
            base = "" if base == "." else base
            if ".gitignore" in files:
                lines = _read_lines(Path(current) / ".gitignore")
                specs.append((base, pathspec.GitIgnoreSpec.from_lines(lines)))
            dirs[:] = [d for d in dirs if not self._ignored(_join(base, d), True)]
        if self.extra:
            specs.append(("", pathspec.GitIgnoreSpec.from_lines(self.extra)))

    def ignores(self, path: str | Path) -> bool:
        """True for a path no re-run should follow (``path`` absolute or relative to the root)."""
        absolute = Path(path) if Path(path).is_absolute() else self.root / path
        if any(_inside(absolute, mine) for mine in self.own):
            return True
        try:
            rel = absolute.relative_to(self.root).as_posix()
        except ValueError:
            return True  # outside the project (a symlink's target): not ours to follow
        if rel in ("", "."):
            return False
        parts = rel.split("/")
        for depth in range(1, len(parts)):  # an ignored directory hides all it holds
            if self._ignored("/".join(parts[:depth]), True):
                return True
        return self._ignored(rel, absolute.is_dir())

    def _ignored(self, rel: str, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if is_dir and name in ALWAYS_IGNORED_DIRS:
            return True
        if name.endswith(ALWAYS_IGNORED_SUFFIXES) or name.startswith(EDITOR_PREFIXES):
            return True
        verdict: bool | None = None
        for base, spec in self._specs:
            if base and not rel.startswith(base + "/"):
                continue
            local = rel[len(base) + 1 :] if base else rel
            result = spec.check_file(local + "/" if is_dir else local)  # type: ignore[attr-defined]
            if result.include is not None:
                verdict = result.include
        return bool(verdict)

    def filter(self, paths: Iterable[str]) -> list[str]:
        """The paths that count, relative to the root, sorted."""
        kept = {self.relative(p) for p in paths if not self.ignores(p)}
        return sorted(kept)

    def relative(self, path: str | Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def own_outputs() -> list[Path]:
    """This process's stdout and stderr when they are files (``cdtui watch > log.txt``): a
    watch must not re-run because it printed."""
    found: list[Path] = []
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                found.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    return found


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
