"""What counts as a change for ``cdtui watch``: fixed rules, .gitignore files, pipeline globs."""

from __future__ import annotations

from pathlib import Path

from cdtui.config.models import Pipeline
from cdtui.watch.ignore import IgnoreRules
from cdtui.watch.loop import Trigger, default_phase, never_restarted
from cdtui.watch.poller import changed, snapshot


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_gitignore_rules_nested_files_negation_and_fixed_dirs(tmp_path: Path):
    root = tree(
        tmp_path,
        {
            ".gitignore": "*.log\n!keep.log\n/top-only.txt\nout/\n",
            "pkg/.gitignore": "secret.txt\n!*.log\n",
            "out/.gitignore": "!never-read.txt\n",  # inside an ignored dir: git never reads it
            ".git/info/exclude": "excluded.txt\n",
        },
    )
    rules = IgnoreRules(root, extra=["docs/**/*.tmp.md"], own=[root / "state"])
    ignored = [
        "a.log",
        "deep/a.log",
        "top-only.txt",
        "out/x.py",
        "out/never-read.txt",
        "pkg/secret.txt",
        "excluded.txt",
        "docs/a/b.tmp.md",
        "state/runs.db",
        ".git/HEAD",
        "x/__pycache__/m.pyc",
        "dist/shop.pyz",
        "notes.txt.swp",
        ".#lock",
    ]
    kept = ["keep.log", "sub/top-only.txt", "pkg/a.log", "src/app.py", "docs/a/b.md"]
    assert [p for p in ignored if not rules.ignores(p)] == []
    assert [p for p in kept if rules.ignores(p)] == []
    assert rules.ignores(tmp_path.parent / "elsewhere.txt")  # outside the project


def test_a_changed_gitignore_is_read_again(tmp_path: Path):
    root = tree(tmp_path, {".gitignore": ""})
    rules = IgnoreRules(root)
    assert not rules.ignores("gen.txt")
    (root / ".gitignore").write_text("gen.txt\n")
    rules.reload()
    assert rules.ignores("gen.txt")


def test_the_poller_sees_two_writes_in_one_second_and_prunes_ignored_dirs(tmp_path: Path):
    root = tree(tmp_path, {"a.txt": "v1", ".git/objects/x": "blob", "b.txt": "b"})
    rules = IgnoreRules(root)
    before = snapshot(rules)
    assert str(root / ".git/objects/x") not in before
    (root / "a.txt").write_text("v2")  # same second, same size: only the ns time differs
    (root / "b.txt").unlink()
    assert changed(before, snapshot(rules)) == {str(root / "a.txt"), str(root / "b.txt")}


def test_which_phases_a_change_never_interrupts_and_the_default_phase():
    pipeline = Pipeline.model_validate(
        {
            "project": "p",
            "phases": [
                {"name": "Build", "stages": [{"name": "b", "run": "true"}]},
                {"name": "Commit", "stages": [{"name": "u", "run": "true", "watch": "queue"}]},
                {"name": "Deploy", "stages": [{"name": "d", "run": "x", "upload": ["a"]}]},
                {"name": "Gated", "gate": "confirm", "stages": [{"name": "g", "run": "true"}]},
            ],
        }
    )
    assert default_phase(pipeline) == "Commit"
    assert never_restarted(pipeline.phase("Commit")) == ""
    assert "deploys" in never_restarted(pipeline.phase("Deploy"))
    assert never_restarted(pipeline.phase("Gated")) == "it is gated"
    assert Trigger(("a", "b", "c", "d", "e")).describe() == "a, b, c (+2 more)"


async def test_without_inotify_the_watcher_polls_and_says_so(tmp_path: Path, monkeypatch):
    """watchfiles raising as it does at the inotify watch limit (ENOSPC): the poller takes over."""
    import asyncio
    import errno

    import watchfiles

    from cdtui.watch.watcher import Watcher

    def no_inotify(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watchfiles, "awatch", no_inotify)
    root = tree(tmp_path, {"a.txt": "v1"})
    said: list[str] = []
    watcher = Watcher(IgnoreRules(root), debounce=0.05, say=said.append)
    batches = watcher.batches()
    first = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.5)  # the poller's first snapshot is taken
    (root / "a.txt").write_text("v2")
    assert await asyncio.wait_for(first, 5) == ["a.txt"]
    assert said == ["file events unavailable (inotify watch limit reached): polling instead"]
    watcher.stop.set()
    await batches.aclose()
