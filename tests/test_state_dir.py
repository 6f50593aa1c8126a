"""cdtui's state never ends up in what a stage packages; overrides put it where they say.

Measured before this: a hatchling project without ``.cdtui/`` in its .gitignore got the previous
runs' store, logs and artifacts in each sdist a stage built (1.5 -> 3 -> 6 -> 12 -> 24 MB).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cdtui.config.models import Pipeline
from cdtui.engine.engine import Engine, EngineOptions
from cdtui.engine.events import Status
from cdtui.engine.plan import make_plan
from cdtui.release.poller import alerts_path
from cdtui.release.routers.files import RouterPaths
from cdtui.store import RunStore, store_exists
from cdtui.store.paths import STATE_ENV, default_state_dir, ensure_state_dir, state_dir
from cdtui.store.releases import RouterLock

PACKAGE = Path(__file__).resolve().parents[1] / "cdtui"
BACKENDS = {
    "hatchling": 'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
    # graft: a MANIFEST.in that takes the whole tree, as projects that ship tests and data do
    "setuptools": 'requires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
}


@pytest.fixture(autouse=True)
def _default_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the default: conftest's in-tree override is lifted."""
    monkeypatch.delenv(STATE_ENV, raising=False)


def tiny_project(root: Path, backend: str, gitignore: str | None) -> Path:
    """A real package with no mention of cdtui anywhere; ``gitignore`` None means no file."""
    project = root / "tiny"
    (project / "tiny").mkdir(parents=True)
    (project / "tiny" / "__init__.py").write_text('"""A package that a stage builds."""\n')
    (project / "pyproject.toml").write_text(
        f'[build-system]\n{BACKENDS[backend]}\n[project]\nname = "tiny"\nversion = "0.1"\n'
    )
    if backend == "setuptools":
        (project / "MANIFEST.in").write_text("graft .\nprune dist\nglobal-exclude *.py[cod]\n")
    if gitignore is not None:
        (project / ".gitignore").write_text(gitignore)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def sdist_pipeline() -> Pipeline:
    build = [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", "dist", "."]
    stage = {"name": "sdist", "run": build, "artifacts": ["dist/*.tar.gz"]}
    return Pipeline.model_validate(
        {"project": "tiny", "phases": [{"name": "Package", "stages": [stage]}]}
    )


async def run_with_store(project: Path, pipeline: Pipeline) -> Path:
    """One run as the CLI drives it: a store that records every event; its root is returned."""
    with RunStore(project) as store:
        run_id = store.begin_run(pipeline.project, "test", "all")
        engine = Engine(
            pipeline, make_plan(pipeline), project_dir=project, run_id=run_id,
            options=EngineOptions(jobs=1),
        )  # fmt: skip
        engine.subscribe(store.record)
        status = await engine.run()
        assert status is Status.SUCCEEDED, store.attempts(run_id)
        return store.root


@pytest.mark.parametrize(
    ("backend", "gitignore"),
    [("hatchling", None), ("hatchling", "__pycache__/\n"), ("setuptools", None)],
    ids=["hatchling-no-gitignore", "hatchling-git-repo", "setuptools-graft"],
)
async def test_three_runs_build_the_same_sdist_with_no_cdtui_state(
    tmp_path: Path, backend: str, gitignore: str | None
):
    project = tiny_project(tmp_path, backend, gitignore)
    pipeline = sdist_pipeline()
    sizes, listings = [], []
    for _ in range(3):
        root = await run_with_store(project, pipeline)
        sdist = project / "dist" / "tiny-0.1.tar.gz"
        with tarfile.open(sdist) as tar:
            members = tar.getmembers()
        listings.append(sorted(m.name for m in members))
        sizes.append(sum(m.size for m in members))  # unpacked: gzip headers carry mtimes

    for names in listings:
        state = [n for n in names if ".cdtui" in n or "runs.db" in n or "/logs/" in n]
        assert state == [], state
        assert "tiny-0.1/tiny/__init__.py" in names
    assert sizes[0] == sizes[1] == sizes[2], sizes
    assert listings[0] == listings[1] == listings[2]
    assert (root / "runs.db").is_file() and (root / "artifacts").is_dir()
    assert not root.is_relative_to(project), root
    if gitignore is not None:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=project, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert [line for line in status.stdout.splitlines() if "dist/" not in line] == [
            "?? .gitignore",
            "?? pyproject.toml",
            "?? tiny/__init__.py",
        ]


def test_the_default_is_per_project_and_names_it(tmp_path: Path):
    one, two = tmp_path / "a" / "shop", tmp_path / "b" / "shop"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (tmp_path / "link").symlink_to(one)

    assert state_dir(one) != state_dir(two)
    assert state_dir(tmp_path / "link") == state_dir(one) == default_state_dir(one)
    assert state_dir(one).name.startswith("shop-")
    root = ensure_state_dir(one)
    assert (root / "project-path").read_text() == f"{one.resolve()}\n"
    assert not (one / ".cdtui").exists() and list(one.iterdir()) == []


def test_an_existing_in_tree_store_keeps_being_used(tmp_path: Path):
    (tmp_path / ".cdtui").mkdir()
    with RunStore(tmp_path) as store:
        store.begin_run("p", "test", "all")
    assert (tmp_path / ".cdtui" / "runs.db").is_file()
    assert store_exists(tmp_path)
    assert not default_state_dir(tmp_path).exists()
    assert (tmp_path / ".cdtui" / ".gitignore").read_text().splitlines()[-1] == "*"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert status.stdout == ""


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative-to-project"])
def test_the_env_override_puts_every_file_where_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
):
    project = tmp_path / "project"
    project.mkdir()
    where = project / "var" / "cdtui" if relative else tmp_path / "elsewhere"
    monkeypatch.setenv(STATE_ENV, "var/cdtui" if relative else str(where))

    with RunStore(project) as store:
        store.begin_run("p", "test", "all")
    lock = RouterLock(project, "embedded 127.0.0.1:1")
    lock.acquire()
    lock.release()

    assert (where / "runs.db").is_file() and store_exists(project)
    assert lock.path.parent == where
    assert RouterPaths(project).dir == where / "router"
    assert alerts_path(project).parent == where
    assert not default_state_dir(project).exists()
    assert sorted(p.name for p in project.iterdir()) == (["var"] if relative else [])


def test_no_module_but_paths_spells_the_state_directory():
    """One function decides; a new ``/ ".cdtui"`` elsewhere would bypass the overrides."""
    found = []
    for module in PACKAGE.rglob("*.py"):
        if module.name == "paths.py" and module.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Constant) and node.value in (".cdtui", ".cdtui/"):
                found.append(f"{module.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []
