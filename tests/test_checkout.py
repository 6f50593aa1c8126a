"""checkout: clean with real git: a fresh worktree of HEAD that does not see the desk's changes,
submodules included, artifacts from it, removed unless keep; the run records its commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cdtui.engine.events import ArtifactStored, CommitTested, Notice, Status
from cdtui.store import RunStore
from tests.conftest import pipeline_of
from tests.test_headless_cli import cdtui, write


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-qm", "first")
    return path


SEE = 'ls -A | sort > "$OUT/seen.txt"; cat tracked.txt > "$OUT/tracked.txt"; pwd > "$OUT/pwd.txt"'


async def test_a_clean_checkout_sees_the_commit_not_the_desk(make_engine, tmp_path: Path):
    project = repo(tmp_path / "project", {"tracked.txt": "committed\n", ".gitignore": ".cdtui\n"})
    (project / "tracked.txt").write_text("edited on the desk\n")
    (project / "scratch.txt").write_text("untracked\n")
    out = tmp_path / "out"
    out.mkdir()
    pipeline = pipeline_of(
        {
            "name": "Check",
            "stages": [
                {
                    "name": "clean",
                    "checkout": "clean",
                    "env": {"OUT": str(out)},
                    "run": SEE + "; mkdir dist; echo wheel > dist/shop.whl",
                    "artifacts": ["dist/*.whl"],
                },
                {"name": "desk", "run": 'ls -A | sort > "$OUT/desk.txt"', "env": {"OUT": str(out)}},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    engine.project_dir = project
    assert await engine.run() is Status.SUCCEEDED
    seen = (out / "seen.txt").read_text().split()
    assert "scratch.txt" not in seen and "tracked.txt" in seen
    assert (out / "tracked.txt").read_text() == "committed\n"
    assert "scratch.txt" in (out / "desk.txt").read_text().split()  # without: the desk
    ran_in = Path((out / "pwd.txt").read_text().strip())
    assert ran_in != project and not ran_in.exists()  # removed afterwards
    assert git(project, "worktree", "list").count("\n") == 0  # and unregistered
    warnings = [e.text for e in events.of(Notice) if e.level == "warning"]
    assert any("2 changed or untracked file(s)" in w and "scratch.txt" in w for w in warnings)
    stored = events.of(ArtifactStored)
    assert [a.path for a in stored] == ["dist/shop.whl"]  # resolved in the checkout
    head = git(project, "rev-parse", "HEAD")
    assert [(e.commit, e.dirty) for e in events.of(CommitTested)] == [(head, True)]


async def test_keep_submodules_and_a_phase_wide_checkout(make_engine, tmp_path: Path):
    sub = repo(tmp_path / "lib", {"lib.txt": "from the submodule\n"})
    project = repo(tmp_path / "project", {"app.txt": "app\n"})
    git(project, "submodule", "add", "-q", str(sub), "vendor/lib")
    git(project, "commit", "-qm", "add lib")
    out = tmp_path / "out"
    out.mkdir()
    pipeline = pipeline_of(
        {
            "name": "Check",
            "checkout": "keep",
            "stages": [
                {
                    "name": "read",
                    "env": {"OUT": str(out)},
                    "run": 'cat vendor/lib/lib.txt > "$OUT/lib.txt"; pwd > "$OUT/pwd.txt"',
                }
            ],
        }
    )
    engine, events = make_engine(pipeline)
    engine.project_dir = project
    assert await engine.run() is Status.SUCCEEDED
    assert (out / "lib.txt").read_text() == "from the submodule\n"
    kept = Path((out / "pwd.txt").read_text().strip())
    assert kept.is_dir() and kept != project
    assert any(e.text == f"checkout kept at {kept}" for e in events.of(Notice))


async def test_outside_git_the_stage_fails_saying_why(make_engine, tmp_path: Path):
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": "a", "run": "true", "checkout": "clean"}]}
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert "needs a git repository" in events.final("a").reason


async def test_outside_git_here_runs_in_the_project_with_a_warning(make_engine, tmp_path: Path):
    checkout = {"clean": True, "outside_git": "here"}
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": "a", "run": "pwd > where.txt", "checkout": checkout}]}
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert Path((engine.project_dir / "where.txt").read_text().strip()) == engine.project_dir
    warned = [e.text for e in events.of(Notice) if e.level == "warning"]
    assert any("not a git repository" in text and "outside_git: here" in text for text in warned)


def test_the_run_records_the_commit_it_tested(tmp_path: Path) -> None:
    project = repo(tmp_path / "p", {"cdtui.yaml": ""})
    write(
        project, "project: t\nphases:\n  - name: P\n    stages:\n      - {name: a, run: 'true'}\n"
    )
    git(project, "add", ".")
    git(project, "commit", "-qm", "pipeline")
    done = cdtui("run", "--headless", ".", cwd=project)
    assert done.returncode == 0, done.stderr
    assert f"commit {git(project, 'rev-parse', 'HEAD')[:12]}\n" in done.stdout
    with RunStore(project) as store:
        # the state dir ignores itself: the tree is as committed
        assert store.tested_commit(1) == (git(project, "rev-parse", "HEAD"), False)


def test_a_named_artifact_kept_in_a_clean_checkout_is_the_projects_for_later_runs(
    tmp_path: Path,
) -> None:
    """The checkout is removed after its stage; its artifact's record must be the project's
    (the sample's Load & Perf reads the .pyz its Acceptance kept, ``from: latest``)."""
    project = repo(tmp_path / "p", {".gitignore": ".cdtui\n", "cdtui.yaml": ""})
    write(
        project,
        """\
project: t
phases:
  - name: Build
    checkout: clean
    stages:
      - name: package
        run: mkdir -p dist && echo built > dist/app.pyz
        artifacts: {app: dist/*.pyz}
  - name: Deploy
    stages:
      - name: deploy
        from: latest
        run: cat ${artifacts.app.path}
""",
    )
    git(project, "add", ".")
    git(project, "commit", "-qm", "pipeline")
    first = cdtui("run", "--headless", ".", "--phase", "Build", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    later = cdtui("run", "--headless", ".", "--phase", "Deploy", cwd=project)
    assert later.returncode == 0, later.stdout + later.stderr
    assert "| built" in later.stdout  # the bytes the Build run kept
    listed = cdtui("artifacts", "list", cwd=project)
    assert "dist/app.pyz" in listed.stdout, listed.stdout + listed.stderr
