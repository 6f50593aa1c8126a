"""A standard-library lint for the pipeline's static-check stage (the project may not have ruff).

Checks Python files for syntax errors, tabs in indentation, trailing whitespace, overlong lines,
CRLF line endings and a missing final newline; text files (html, css, js, yaml, md) for the
whitespace rules only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_LINE = 100
DEFAULT_PATHS = ("shop", "tests", "scripts", "package.py", "cdtui.yaml", "README.md")
TEXT_SUFFIXES = {".py", ".html", ".css", ".js", ".yaml", ".yml", ".md", ".toml", ".cfg"}
SKIP_DIRS = {"__pycache__", "dist", ".cdtui", ".cdtui-demo", ".git"}


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    path: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.code} {self.message}"


def check_text(path: str, text: str, python: bool, max_line: int = MAX_LINE) -> list[Finding]:
    """All findings for one file's text; pure so tests feed it strings."""
    findings: list[Finding] = []
    if python:
        try:
            compile(text, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            findings.append(
                Finding(path, exc.lineno or 1, exc.offset or 1, "E999", f"syntax: {exc.msg}")
            )
    if "\r\n" in text:
        findings.append(Finding(path, 1, 1, "W001", "CRLF line endings"))
    if text and not text.endswith("\n"):
        findings.append(Finding(path, text.count("\n") + 1, 1, "W292", "no newline at end"))
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        indent = line[: len(line) - len(line.lstrip())]
        if "\t" in indent:
            findings.append(Finding(path, number, indent.index("\t") + 1, "W191", "tab indent"))
        stripped = line.rstrip()
        if stripped != line:
            findings.append(Finding(path, number, len(stripped) + 1, "W291", "trailing whitespace"))
        if python and len(line) > max_line:
            findings.append(
                Finding(path, number, max_line + 1, "E501", f"line {len(line)} > {max_line}")
            )
    return findings


def iter_files(paths: list[Path]) -> list[Path]:
    """Files under ``paths`` with a suffix we check, sorted, skipping build and cache folders."""
    found: set[Path] = set()
    for root in paths:
        candidates = [root] if root.is_file() else root.rglob("*")
        for path in candidates:
            wanted = path.is_file() and path.suffix in TEXT_SUFFIXES
            if wanted and not SKIP_DIRS & set(path.parts):
                found.add(path)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help=f"default: {' '.join(DEFAULT_PATHS)}")
    parser.add_argument("--max-line", type=int, default=MAX_LINE)
    args = parser.parse_args(argv)
    paths = args.paths or [Path(p) for p in DEFAULT_PATHS if Path(p).exists()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"lint: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = iter_files(paths)
    findings: list[Finding] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        findings.extend(check_text(str(path), text, path.suffix == ".py", args.max_line))
    for finding in sorted(findings):
        print(finding)
    print(f"lint: {len(files)} files, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
