"""Where a project's cdtui state lives: runs.db, logs/, artifacts/, router/, locks, alerts.

Outside the project tree by default. Build backends pack what the tree holds: hatchling reads only
the project's root .gitignore (a ``.gitignore`` or ``CACHEDIR.TAG`` inside ``.cdtui/`` is not
honoured), so an in-tree store went into every sdist a stage built and doubled it on each run.
An existing ``DIR/.cdtui/`` is still used, and ``CDTUI_STATE_DIR`` puts the state anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

STATE_ENV = "CDTUI_STATE_DIR"
IN_TREE = ".cdtui"
"""The directory earlier versions always used; a project that has one keeps using it."""
PROJECT_FILE = "project-path"
"""Names the project in an out-of-tree state dir, so a person can tell which is whose."""
_IGNORE = "# cdtui's run state: never committed, never packaged\n*\n"
_NAME_MAX = 32  # keeps router/admin.sock well inside the 107 bytes a socket path may take


def state_dir(project_dir: Path | str) -> Path:
    """The state directory of ``project_dir``; creates nothing (read-only commands call it too).

    In order: ``CDTUI_STATE_DIR`` (relative to the project, ``~`` expanded), an existing
    ``DIR/.cdtui/``, then ``$XDG_STATE_HOME/cdtui/projects/NAME-HASH`` keyed by the real path.
    """
    project = Path(project_dir)
    override = os.environ.get(STATE_ENV, "").strip()
    if override:
        return project / Path(override).expanduser()
    in_tree = project / IN_TREE
    if in_tree.is_dir():
        return in_tree
    return default_state_dir(project)


def default_state_dir(project_dir: Path | str) -> Path:
    """Per project under the XDG state home: two clones of one repository never share a store."""
    real = Path(project_dir).resolve()
    home = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec: a relative value is invalid and is ignored.
    base = Path(home) if os.path.isabs(home) else Path.home() / ".local" / "state"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", real.name)[:_NAME_MAX] or "root"
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:12]
    return base / "cdtui" / "projects" / f"{name}-{digest}"


def ensure_state_dir(project_dir: Path | str) -> Path:
    """``state_dir``, created, with a ``.gitignore`` of ``*`` so git never offers to commit it.

    git, and backends that ask git (setuptools-scm, poetry), honour that file; hatchling does not,
    which is why the default is outside the tree.
    """
    root = state_dir(project_dir)
    root.mkdir(parents=True, exist_ok=True)
    _write_once(root / ".gitignore", _IGNORE)
    if root == default_state_dir(project_dir):
        _write_once(root / PROJECT_FILE, f"{Path(project_dir).resolve()}\n")
    return root


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` unless it exists; another process creating it first is fine."""
    if path.exists():
        return
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(text)
