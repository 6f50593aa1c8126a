"""What the release confirmation tells: commits since the last release (git), the refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

from routing_fixtures import free_port

from cdtui.config.release import ReleaseSpec
from cdtui.release.context import gather, head_commit
from cdtui.release.watch import Check, ReleaseWatch


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(cwd),
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def spec(**green: object) -> ReleaseSpec:
    return ReleaseSpec.model_validate(
        {
            "router": {"kind": "embedded", "listen": f"127.0.0.1:{free_port()}"},
            "blue": {"url": "http://127.0.0.1:9"},
            "green": {"url": "http://127.0.0.1:10", **green},
        }
    )


def commit(repo: Path, message: str) -> None:
    (repo / "file.txt").write_text(message)
    git(repo, "add", "file.txt")
    git(repo, "commit", "-q", "-m", message)


def released(project: Path) -> None:
    """What a finished release leaves: HEAD recorded from its CommitReleased event."""
    import time

    from cdtui.release.events import CommitReleased
    from cdtui.store import RunStore

    with RunStore(project) as store:
        store.record(CommitReleased(1, time.time(), head_commit(project)))


async def test_commits_since_the_last_release_come_from_git(tmp_path: Path):
    git(tmp_path, "init", "-q")
    commit(tmp_path, "first")
    released(tmp_path)
    commit(tmp_path, "Catalogue: sort by price")
    commit(tmp_path, "Health: report the colour")
    context = await gather(spec(), "Release", tmp_path, None)
    assert context.commits_note.startswith("2 since the last release")
    assert [c.split(" ", 1)[1] for c in context.commits] == [
        "Health: report the colour",
        "Catalogue: sort by price",
    ]
    assert context.router_note == "not running: the release starts it"
    assert context.refusal is None


async def test_a_rewritten_history_is_said_not_hidden(tmp_path: Path):
    git(tmp_path, "init", "-q")
    commit(tmp_path, "first")
    (tmp_path / ".cdtui").mkdir()
    (tmp_path / ".cdtui" / "released-commit").write_text("0123456789abcdef" * 2 + "01234567\n")
    context = await gather(spec(), "Release", tmp_path, None)
    assert any("is not in this history" in w for w in context.warnings)
    assert [c.split(" ", 1)[1] for c in context.commits] == ["first"]


async def test_outside_git_the_confirmation_says_so(tmp_path: Path):
    context = await gather(spec(), "Release", tmp_path, None)
    assert context.commits == [] and "not a git repository" in context.commits_note


async def test_an_unhealthy_idle_colour_is_refused_only_when_nothing_redeploys_it(tmp_path: Path):
    for green, refused in (({}, True), ({"deploy": "./deploy.sh"}, False)):
        watch = ReleaseWatch(spec(**green), "Release")
        for at in range(3):
            watch.sample("green", Check(float(at), False, 1.0, 503, "HTTP 503, expected 200"))
        context = await gather(watch.spec, "Release", tmp_path, watch)
        assert (context.refusal is not None) is refused
        if refused:
            assert "Idle green is unhealthy" in context.refusal.title
            assert "green.deploy is not set" in context.refusal.fix
        else:
            assert any("deploys it first" in w for w in context.warnings)


async def test_the_release_ships_the_tested_artifact_and_says_so(tmp_path: Path):
    """Package stores the bytes; Load & Perf measures; the release deploys those very bytes
    (CDTUI_ARTIFACT) and the next confirmation names them, the run that tested them, and its
    measured results."""
    import hashlib
    import json

    from release_backends import faulty_server
    from routing_fixtures import embedded_router
    from test_release_rollout import fast

    from cdtui.engine.engine import EngineOptions
    from cdtui.release.deployments import latest
    from cdtui.release.events import ColourDeployed
    from cdtui.session import Session

    metric = {"name": "p95 static", "value": 6.5, "unit": "ms", "threshold": 50}
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port())
        block["green"]["deploy"] = (  # type: ignore[index]
            'echo "deploying $CDTUI_ARTIFACT_NAME $CDTUI_ARTIFACT_SHA256"; '
            'cmp "$CDTUI_ARTIFACT" dist/app.pyz'
        )
        phases = [
            {
                "name": "Acceptance",
                "stages": [
                    {
                        "name": "package",
                        "run": "mkdir -p dist && echo the bytes > dist/app.pyz",
                        "artifacts": ["dist/*.pyz"],
                    }
                ],
            },
            {
                "name": "Load & Perf",
                "stages": [
                    {"name": "smoke", "run": f"echo '{json.dumps(metric)}' >> \"$CDTUI_METRICS\""}
                ],
            },
            {"name": "Release", "release": block},
        ]
        (tmp_path / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))
        with embedded_router(tmp_path, block):
            session = Session(tmp_path)
            assert session.load() == []
            events: list = []
            engine = session.start(session.plan(), [events.append], options=EngineOptions())
            await session.task
            assert engine.status.ok, [e for e in events if "FAILED" in str(e)]
            digest = hashlib.sha256(b"the bytes\n").hexdigest()
            deployed = [e for e in events if isinstance(e, ColourDeployed)]
            assert [(d.colour, d.sha256, d.artifact) for d in deployed] == [
                ("green", digest, "dist/app.pyz")
            ]
            assert latest(tmp_path)["green"].sha256 == digest
            context = await gather(
                engine.pipeline.phases[2].release,
                "Release",
                tmp_path,
                None,
                session.store,
                session.pipeline,
            )
            session.close()
    assert context.artifact.sha256 == digest and context.artifact.path == "dist/app.pyz"
    assert context.tested_run == engine.run_id
    assert context.tested_by == f"run #{engine.run_id} passed Load & Perf"
    assert "✓ smoke: p95 static 6.5ms (limit <= 50)" in context.results


async def test_an_artifact_no_run_tested_is_refused(tmp_path: Path):
    import json

    from cdtui.engine.engine import EngineOptions
    from cdtui.session import Session

    phases = [
        {
            "name": "Acceptance",
            "stages": [
                {
                    "name": "package",
                    "run": "mkdir -p dist && echo new > dist/app.pyz",
                    "artifacts": ["dist/*.pyz"],
                }
            ],
        },
        {"name": "Load & Perf", "stages": [{"name": "smoke", "run": "exit 1"}]},
        {"name": "Release", "release": spec().model_dump(exclude_unset=True)},
    ]
    (tmp_path / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))
    session = Session(tmp_path)
    assert session.load() == []
    session.start(session.plan(), [], options=EngineOptions())
    await session.task
    context = await gather(
        session.pipeline.phases[2].release,
        "Release",
        tmp_path,
        None,
        session.store,
        session.pipeline,
    )
    session.close()
    assert context.refusal is not None and context.refusal.title == "The artifact was not tested"
    assert "no run that passed Load & Perf" in context.refusal.why


async def test_rollback_is_not_refused_when_the_router_and_the_record_disagree(tmp_path: Path):
    from routing_fixtures import embedded_router

    from cdtui.release.control import key_of
    from cdtui.release.routers import Weights
    from cdtui.store.releases import ReleaseRecords

    release = spec()
    block = release.model_dump(exclude_unset=True)
    with embedded_router(tmp_path, block) as router:
        await router.driver.set_weights(Weights(70, 30))  # moved outside cdtui
        records = ReleaseRecords(tmp_path, key_of(release.router))
        records.applied(1, "blue", Weights(50, 50), Weights.ALL_BLUE, 0)
        records.close()
        refused = await gather(release, "Release", tmp_path, None)
        back = await gather(release, "Release", tmp_path, None, for_rollback=True)
    assert refused.refusal is not None and "disagree" in refused.refusal.title
    assert back.refusal is None and back.rollback_to == "blue"
    assert any("disagree" in w for w in back.warnings)
