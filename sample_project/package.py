"""Build ``dist/shop-<version>.pyz`` reproducibly and print its sha256.

Entries are sorted and stamped with a fixed time and mode, so the same source always gives
the same bytes: the hash identifies the release, and a rebuild can prove it changed nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import zipapp
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
INTERPRETER = "/usr/bin/env python3"
BOOTSTRAP = b"import sys\n\nfrom shop.__main__ import main\n\nsys.exit(main())\n"
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def read_version(source: Path) -> str:
    """The version from shop/__init__.py, read as text so packaging never imports the app."""
    text = (source / "shop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise SystemExit('package.py: no __version__ = "..." in shop/__init__.py')
    return match.group(1)


def archive_entries(source: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) for every file that goes into the archive, sorted by name."""
    entries = [("__main__.py", BOOTSTRAP)]
    for path in (source / "shop").rglob("*"):
        rel = path.relative_to(source)
        if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix not in SKIP_SUFFIXES:
            entries.append((rel.as_posix(), path.read_bytes()))
    return sorted(entries)


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip whose bytes depend only on the entries: fixed timestamps, modes and order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def build(source: Path, dist: Path) -> Path:
    """Write the .pyz (with a shebang, via zipapp) and remove older shop-*.pyz beside it."""
    version = read_version(source)
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / f"shop-{version}.pyz"
    for stale in dist.glob("shop-*.pyz*"):
        if not stale.name.startswith(target.name):
            stale.unlink()
    archive = io.BytesIO(zip_bytes(archive_entries(source)))
    zipapp.create_archive(archive, str(target), INTERPRETER)  # a str target gets the +x bit
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=HERE / "dist", help="output directory")
    args = parser.parse_args(argv)
    target = build(HERE, args.dist)
    digest = sha256_of(target)
    target.with_name(target.name + ".sha256").write_text(f"{digest}  {target.name}\n")
    try:
        shown = target.relative_to(Path.cwd())
    except ValueError:
        shown = target
    print(f"{digest}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
