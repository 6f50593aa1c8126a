"""Artifacts stay inside the project and are verified on every read: real files, the real engine,
store and validation (issue #12). Each case here stored files from anywhere, reused or deployed
a corrupt copy, or filled the store with a sparse file's zeros before."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import pytest

from cdtui.config import ConfigError, LocatedError, format_errors, load_pipeline
from cdtui.engine.events import ArtifactStored, Notice, Status
from cdtui.release.deployments import release_artifact
from cdtui.store import RunStore
from cdtui.store.artifacts import ArtifactError, store_file
from tests.conftest import EngineFactory, pipeline_of
from tests.sshd import SshServer

GIB = 1 << 30


def one_stage(**stage: object) -> object:
    return pipeline_of({"name": "Build", "stages": [{"name": "package", **stage}]})


def store_dir(project: Path) -> Path:
    return project / ".cdtui" / "artifacts" / "sha256"


def stored_copies(project: Path) -> list[Path]:
    return sorted(store_dir(project).glob("*")) if store_dir(project).exists() else []


def flip_a_byte(path: Path) -> None:
    """Corrupt a stored (read-only) copy on disk the way a bad disk or a stray write would."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


async def failed_reason(make_engine: EngineFactory, pipeline: object) -> str:
    engine, recorder = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert recorder.of(ArtifactStored) == []
    return recorder.final("package").reason


# -- at run time: nothing outside the project is kept ---------------------------------------------


async def test_a_dot_dot_pattern_is_refused(make_engine: EngineFactory, tmp_path: Path):
    escape = os.path.relpath("/etc/passwd", tmp_path)  # ../../../../etc/passwd
    reason = await failed_reason(make_engine, one_stage(run="true", artifacts=[escape]))
    assert reason == (
        f"artifacts: {escape} resolves to /etc/passwd, outside the project: refused "
        f"(only files inside {tmp_path} are kept)"
    )
    assert stored_copies(tmp_path) == []


async def test_an_absolute_pattern_is_refused(make_engine: EngineFactory, tmp_path: Path):
    reason = await failed_reason(make_engine, one_stage(run="true", artifacts=["/etc/pass*"]))
    assert "resolves to /etc/passwd, outside the project: refused" in reason
    assert stored_copies(tmp_path) == []


async def test_a_cwd_outside_the_project_is_refused(make_engine: EngineFactory, tmp_path: Path):
    up = os.path.relpath("/", tmp_path)
    pipeline = one_stage(run="true", cwd=up, artifacts=["etc/passwd"])
    reason = await failed_reason(make_engine, pipeline)
    assert reason == f"artifacts: cwd {tmp_path / up} is outside the project (/): refused"
    assert stored_copies(tmp_path) == []


async def test_a_symlink_out_of_the_project_is_refused_with_its_path(
    make_engine: EngineFactory, tmp_path: Path
):
    build = "mkdir -p dist && echo ok > dist/app.pyz && ln -s /etc/passwd dist/x"
    reason = await failed_reason(make_engine, one_stage(run=build, artifacts=["dist/*"]))
    assert reason.startswith("artifacts: dist/x resolves to /etc/passwd, outside the project")
    assert stored_copies(tmp_path) == []  # not even the good file: the stage stores nothing


async def test_a_symlinked_directory_out_of_the_project_is_refused(
    make_engine: EngineFactory, tmp_path: Path
):
    pipeline = one_stage(run="ln -s /etc dist", artifacts=["dist/passwd"])
    reason = await failed_reason(make_engine, pipeline)
    assert reason.startswith("artifacts: dist/passwd resolves to /etc/passwd, outside")


async def test_a_symlink_inside_the_project_is_kept(make_engine: EngineFactory, tmp_path: Path):
    build = "mkdir -p dist build && echo ok > build/app.pyz && ln -s ../build/app.pyz dist/app.pyz"
    engine, recorder = make_engine(one_stage(run=build, artifacts=["dist/*"]))
    assert await engine.run() is Status.SUCCEEDED
    assert [a.path for a in recorder.of(ArtifactStored)] == ["dist/app.pyz"]


async def test_an_upload_symlink_out_of_the_project_is_refused_and_never_sent(
    make_engine: EngineFactory, tmp_path: Path, sshd: SshServer
):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app.pyz").write_bytes(b"payload")
    (tmp_path / "dist" / "x").symlink_to("/etc/passwd")
    remote = tmp_path / "remote"
    remote.mkdir()
    stage = {"name": "ship", "run": "ls", "on": "host0", "cwd": str(remote), "upload": ["dist/*"]}
    host = sshd.host().model_dump()
    engine, recorder = make_engine(
        pipeline_of({"name": "Deploy", "stages": [stage]}, hosts={"host0": host})
    )
    assert await engine.run() is Status.FAILED
    reason = recorder.final("ship").reason
    assert reason == (
        f"host0: upload: {tmp_path}/dist/x resolves to /etc/passwd, outside the project: refused"
    )
    assert list(remote.iterdir()) == []


# -- every read of a stored copy re-hashes it -----------------------------------------------------


async def test_a_corrupt_stored_copy_is_replaced_when_the_same_bytes_are_built_again(
    make_engine: EngineFactory, tmp_path: Path
):
    pipeline = one_stage(run="mkdir -p dist && seq 1 1000 > dist/a.pyz", artifacts=["dist/*"])
    engine, _ = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    (copy,) = stored_copies(tmp_path)
    flip_a_byte(copy)
    bad = hashlib.sha256(copy.read_bytes()).hexdigest()

    engine, recorder = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED

    good = (tmp_path / "dist" / "a.pyz").read_bytes()
    assert copy.read_bytes() == good and copy.name == hashlib.sha256(good).hexdigest()
    (warning,) = [n.text for n in recorder.of(Notice) if n.level == "warning"]
    assert warning == (
        f"artifacts: dist/a.pyz: the stored copy was corrupt ({copy}: digest mismatch: expected "
        f"{copy.name} got {bad}); replaced"
    )
    assert [a.sha256 for a in recorder.of(ArtifactStored)] == [copy.name]


async def test_release_artifact_refuses_a_corrupt_stored_copy(
    make_engine: EngineFactory, tmp_path: Path
):
    pipeline = one_stage(run="mkdir -p dist && seq 1 500 > dist/a.pyz", artifacts=["dist/*"])
    engine, _ = make_engine(pipeline)
    with RunStore(tmp_path) as store:
        engine.subscribe(store.record)
        assert await engine.run() is Status.SUCCEEDED
    path, digest, run_id, copy = release_artifact(tmp_path)  # type: ignore[misc]
    assert (path, run_id, copy.name) == ("dist/a.pyz", 1, digest)

    flip_a_byte(copy)
    bad = hashlib.sha256(copy.read_bytes()).hexdigest()
    with pytest.raises(ArtifactError) as caught:
        release_artifact(tmp_path)
    assert str(caught.value) == f"{copy}: digest mismatch: expected {digest} got {bad}"


async def test_the_release_stage_refuses_to_deploy_a_corrupt_copy(tmp_path: Path):
    """A stage between the build and the release corrupts the stored copy on disk: the release
    stage fails naming the digests, and the deploy command never runs."""
    import json

    from release_backends import faulty_server
    from routing_fixtures import embedded_router, free_port
    from test_release_rollout import fast

    from cdtui.engine.engine import EngineOptions
    from cdtui.engine.events import StageFinished
    from cdtui.session import Session

    corrupt = (
        "f=$(ls .cdtui/artifacts/sha256/*) && chmod u+w $f && printf X | "
        "dd of=$f bs=1 seek=3 conv=notrunc 2>/dev/null"
    )
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port())
        block["green"]["deploy"] = "touch deployed"  # type: ignore[index]
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
            {"name": "Load & Perf", "stages": [{"name": "smoke", "run": corrupt}]},
            {"name": "Release", "release": block},
        ]
        (tmp_path / "cdtui.yaml").write_text(json.dumps({"project": "shop", "phases": phases}))
        with embedded_router(tmp_path, block):
            session = Session(tmp_path)
            assert session.load() == []
            events: list = []
            engine = session.start(session.plan(), [events.append], options=EngineOptions())
            await session.task
            session.close()
    assert not engine.status.ok
    digest = hashlib.sha256(b"the bytes\n").hexdigest()
    (release,) = [e for e in events if isinstance(e, StageFinished) and e.stage == "release"]
    assert release.status is Status.FAILED
    assert f"digest mismatch: expected {digest} got " in release.reason
    assert release.reason.startswith("deploy of idle green refused: ")
    assert not (tmp_path / "deployed").exists()


# -- sparse files stay sparse ---------------------------------------------------------------------


async def test_a_2_gib_sparse_artifact_stays_sparse_in_the_store(
    make_engine: EngineFactory, tmp_path: Path
):
    build = "mkdir -p dist && truncate -s 2G dist/disk.img && printf data >> dist/disk.img"
    engine, recorder = make_engine(one_stage(run=build, artifacts=["dist/*"]))
    assert await engine.run() is Status.SUCCEEDED
    (event,) = recorder.of(ArtifactStored)
    (copy,) = stored_copies(tmp_path)
    assert event.size == copy.stat().st_size == 2 * GIB + 4
    assert copy.stat().st_blocks * 512 <= 1 << 20  # main stored 2 GiB of zeros
    with copy.open("rb") as fh:
        fh.seek(2 * GIB)
        assert fh.read() == b"data"


def test_a_sparse_copy_holds_exactly_the_source_bytes(tmp_path: Path):
    """Data at the start, zeros written as data, a hole, data, a trailing hole: the copy reads
    back byte for byte and its name is the digest of those bytes."""
    source = tmp_path / "dist" / "image.bin"
    source.parent.mkdir()
    with source.open("wb") as fh:
        fh.write(os.urandom(5000))
        fh.write(bytes(3 << 20))  # real zeros: stored as a hole too
        fh.seek(9 << 20)
        fh.write(os.urandom(70000))
        fh.truncate(20 << 20)
    kept = store_file(source, tmp_path / ".cdtui", tmp_path)
    copy = store_dir(tmp_path) / kept.sha256
    original = source.read_bytes()
    assert copy.read_bytes() == original
    assert kept.sha256 == hashlib.sha256(original).hexdigest() and kept.size == 20 << 20
    assert copy.stat().st_blocks * 512 < 1 << 20


# -- validation: located errors before anything runs ----------------------------------------------


def errors_in(tmp_path: Path, stages: str, **top: str) -> list[LocatedError]:
    text = "project: shop\n" + "".join(f"{k}: {v}\n" for k, v in top.items())
    text += "phases:\n  - name: Build\n    stages:\n"
    text += textwrap.indent(textwrap.dedent(stages).strip("\n"), "      ")
    path = tmp_path / "cdtui.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, environ={})
    return caught.value.errors


def test_absolute_and_dot_dot_paths_are_located_errors_with_a_hint(tmp_path: Path):
    errors = errors_in(
        tmp_path,
        """
        - {name: a, run: x, artifacts: [dist/*.whl, ../../etc/passwd]}
        - {name: b, run: x, artifacts: ["/etc/*"]}
        - {name: c, run: x, cwd: ../.., artifacts: [x]}
        - name: d
          run: x
          upload: [dist/a, /etc/shadow]
          on: web
        """,
        hosts="{web: {address: 127.0.0.1}}",
    )
    shown = [f"{e.line}:{e.col} {e.path}: {e.message}" for e in errors]
    assert shown == [
        "6:51 phases[0].stages[0].artifacts[1]: '../../etc/passwd' leaves the project with '..': "
        "artifacts must stay inside the project",
        "7:39 phases[0].stages[1].artifacts[0]: '/etc/*' is an absolute path: artifacts must "
        "stay inside the project",
        "8:32 phases[0].stages[2].cwd: '../..' leaves the project with '..': cwd must stay "
        "inside the project",
        "11:26 phases[0].stages[3].upload[1]: '/etc/shadow' is an absolute path: upload must "
        "stay inside the project",
    ], format_errors(errors)
    assert "matched from the stage's cwd" in errors[0].hint
    assert "inside the project, relative to it" in errors[2].hint
    assert "matched from the project dir" in errors[3].hint


def test_a_remote_stage_cwd_is_a_directory_on_its_hosts(tmp_path: Path):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: shop\nhosts: {web: {address: 127.0.0.1}}\nphases:\n  - name: Deploy\n"
        "    stages: [{name: d, run: x, on: web, cwd: /srv/app, upload: [dist/*]}]\n"
    )
    stage = load_pipeline(path, environ={}).phases[0].stages[0]
    assert stage.cwd == "/srv/app"
