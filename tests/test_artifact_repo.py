"""The artifact repository, local backend: named artifacts, ${artifacts…}, provenance, promotion
(compare-and-swap), a later run deploying a promoted run's bytes, gc. Real runs, a real store."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from cdtui.artifacts.records import ArtifactRecords, PromotionConflict
from cdtui.config import ConfigError, load_pipeline
from cdtui.engine.events import Status
from tests.artifact_runs import cli, run_pipeline

BUILD = "mkdir -p dist && printf %s {text} > dist/shop.pyz"


def build_phase(text: str, artifacts: object = None) -> dict:
    stage = {"name": "package", "run": BUILD.format(text=text)}
    stage["artifacts"] = artifacts if artifacts is not None else {"pyz": "dist/*.pyz"}
    return {"name": "Acceptance", "stages": [stage]}


def deploy_phase(**extra: object) -> dict:
    show = "echo path=${artifacts.pyz.path} sha=${artifacts.pyz.sha256}; cat ${artifacts.pyz.path}"
    return {"name": "Deploy", "stages": [{"name": "deploy", "run": show, **extra}]}


def said(recorder, stage: str) -> dict[str, str]:
    text = recorder.output(stage)
    found = dict(part.split("=", 1) for part in text.split()[:2])
    found["body"] = text.splitlines()[-1] if text.splitlines() else ""
    return found


async def test_a_named_artifact_reaches_later_stages_by_path_and_digest(tmp_path: Path):
    status, recorder, _ = await run_pipeline(tmp_path, build_phase("one"), deploy_phase())

    assert status is Status.SUCCEEDED
    seen = said(recorder, "deploy")
    assert seen["sha"] == hashlib.sha256(b"one").hexdigest()
    assert Path(seen["path"]).name == "shop.pyz"  # its own name: pip and friends need it
    assert Path(seen["path"]).read_bytes() == b"one"
    assert seen["body"].endswith("one")


async def test_the_record_has_provenance(tmp_path: Path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty",
         "-m", "x"], cwd=tmp_path, check=True,
    )  # fmt: skip
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    _, _, run = await run_pipeline(tmp_path, build_phase("one"))

    with ArtifactRecords(tmp_path) as records:
        (record,) = records.of_run(run)
    assert (record.name, record.path, record.size) == ("pyz", "dist/shop.pyz", 3)
    assert (record.run_id, record.phase, record.stage, record.git_commit) == (
        run, "Acceptance", "package", head,
    )  # fmt: skip
    assert record.location.startswith("local:")
    listed = json.loads(cli("artifacts", run, "--json", "-C", tmp_path).output)
    assert listed[0]["name"] == "pyz" and listed[0]["commit"] == head


async def test_list_form_with_an_optional_entry_that_matches_nothing(tmp_path: Path):
    entries = ["dist/*.pyz", {"path": "dist/*.sig", "name": "sig", "optional": True}]
    status, recorder, _ = await run_pipeline(tmp_path, build_phase("x", entries))
    assert status is Status.SUCCEEDED, recorder.final("package").reason

    entries = [{"path": "dist/*.sig", "name": "sig"}]
    status, recorder, _ = await run_pipeline(tmp_path, build_phase("x", entries))
    assert status is Status.FAILED
    assert "dist/*.sig matched no file" in recorder.final("package").reason


async def test_a_named_artifact_is_one_file(tmp_path: Path):
    phase = build_phase("x", {"all": "dist/*"})
    phase["stages"][0]["run"] += " && echo y > dist/other"
    status, recorder, _ = await run_pipeline(tmp_path, phase)
    assert status is Status.FAILED
    assert "all (dist/*) matched 2 files" in recorder.final("package").reason


async def test_a_reference_to_an_unkept_name_fails_the_stage_naming_it(tmp_path: Path):
    status, recorder, _ = await run_pipeline(
        tmp_path,
        {"name": "Deploy", "stages": [{"name": "deploy", "run": "echo ${artifacts.pyz.path}"}]},
    )
    assert status is Status.FAILED
    assert "artifacts.pyz" in recorder.final("deploy").reason


async def test_promotion_deploys_the_earlier_runs_bytes(tmp_path: Path):
    _, _, first = await run_pipeline(tmp_path, build_phase("first"))
    result = cli("promote", first, "staging", "-C", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"staging -> run #{first}" in result.output

    # A later run builds other bytes, but its deploy takes what staging was promoted to.
    status, recorder, _ = await run_pipeline(
        tmp_path, build_phase("second"), deploy_phase(**{"from": "staging"})
    )
    assert status is Status.SUCCEEDED, recorder.final("deploy").reason
    seen = said(recorder, "deploy")
    assert seen["sha"] == hashlib.sha256(b"first").hexdigest()
    assert Path(seen["path"]).read_bytes() == b"first"

    # By run id too.
    status, recorder, _ = await run_pipeline(tmp_path, deploy_phase(**{"from": first}))
    assert status is Status.SUCCEEDED
    assert said(recorder, "deploy")["body"].endswith("first")


async def test_from_latest_takes_the_newest_run_that_kept_named_artifacts(tmp_path: Path):
    """A phase run alone (Load & Perf after an earlier Acceptance) deploys the newest kept
    bytes; in one run with the package stage, that run's own."""
    status, recorder, _ = await run_pipeline(tmp_path, deploy_phase(**{"from": "latest"}))
    assert status is Status.FAILED  # nothing kept yet: said, never an empty path
    assert "from: latest: no run kept a named artifact yet" in recorder.final("deploy").reason
    await run_pipeline(tmp_path, build_phase("first"))
    await run_pipeline(tmp_path, build_phase("second"))
    status, recorder, _ = await run_pipeline(tmp_path, deploy_phase(**{"from": "latest"}))
    assert status is Status.SUCCEEDED, recorder.final("deploy").reason
    assert said(recorder, "deploy")["sha"] == hashlib.sha256(b"second").hexdigest()
    status, recorder, _ = await run_pipeline(
        tmp_path, build_phase("third"), deploy_phase(**{"from": "latest"})
    )
    assert status is Status.SUCCEEDED, recorder.final("deploy").reason
    assert said(recorder, "deploy")["sha"] == hashlib.sha256(b"third").hexdigest()


async def test_from_an_unpromoted_environment_fails_saying_how_to_promote(tmp_path: Path):
    await run_pipeline(tmp_path, build_phase("first"))
    status, recorder, _ = await run_pipeline(tmp_path, deploy_phase(**{"from": "prod"}))
    assert status is Status.FAILED
    assert "nothing was promoted to 'prod'" in recorder.final("deploy").reason
    assert "cdtui promote RUN prod" in recorder.final("deploy").reason


async def test_a_corrupt_stored_copy_is_never_deployed(tmp_path: Path):
    _, _, first = await run_pipeline(tmp_path, build_phase("first"))
    digest = hashlib.sha256(b"first").hexdigest()
    stored = tmp_path / ".cdtui" / "artifacts" / "sha256" / digest
    stored.chmod(0o644)
    stored.write_bytes(b"firsT")

    status, recorder, _ = await run_pipeline(tmp_path, deploy_phase(**{"from": first}))
    assert status is Status.FAILED
    reason = recorder.final("deploy").reason
    assert (
        f"digest mismatch: expected {digest} got {hashlib.sha256(b'firsT').hexdigest()}" in reason
    )


async def test_promotion_is_compare_and_swap(tmp_path: Path):
    _, _, first = await run_pipeline(tmp_path, build_phase("a"))
    _, _, second = await run_pipeline(tmp_path, build_phase("b"))
    with ArtifactRecords(tmp_path) as one, ArtifactRecords(tmp_path) as two:
        assert one.current("prod") is None
        one.promote("prod", first, "alice", expected=None)
        with pytest.raises(PromotionConflict, match="prod was promoted to run"):
            two.promote("prod", second, "bob", expected=None)  # saw "nothing" before alice
        assert two.current("prod").run_id == first
    result = cli("promote", second, "prod", "--expect", 99, "-C", tmp_path)
    assert result.exit_code == 2 and "nothing was changed" in result.output
    result = cli("promote", second, "prod", "-C", tmp_path)
    assert result.exit_code == 0 and f"(was run #{first})" in result.output
    listed = json.loads(cli("artifacts", "--json", "-C", tmp_path).output)
    assert [r["promoted_to"] for r in listed] == [[], ["prod"]]


async def test_gc_keeps_recent_and_promoted_artifacts(tmp_path: Path):
    runs = [(await run_pipeline(tmp_path, build_phase(t)))[2] for t in ("r1", "r2", "r3", "r4")]
    assert cli("promote", runs[0], "prod", "-C", tmp_path).exit_code == 0
    assert cli("promote", runs[1], "prod", "-C", tmp_path).exit_code == 0  # r1 is previous now
    store = tmp_path / ".cdtui" / "artifacts" / "sha256"
    digest = {t: hashlib.sha256(t.encode()).hexdigest() for t in ("r1", "r2", "r3", "r4")}

    dry = cli("artifacts", "gc", "--keep", 1, "--dry-run", "-C", tmp_path)
    assert dry.exit_code == 0, dry.output
    assert f"would remove sha256:{digest['r3']}" in dry.output
    assert len(list(store.iterdir())) == 4

    done = cli("artifacts", "gc", "--keep", 1, "-C", tmp_path)
    assert done.exit_code == 0, done.output
    assert {p.name for p in store.iterdir()} == {digest["r1"], digest["r2"], digest["r4"]}


def test_artifact_keys_are_validated_with_their_location(tmp_path: Path):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: p\nartifacts: {store: s3://Bad_Bucket}\nphases:\n  - name: A\n    stages:\n"
        "      - {name: b, run: x, artifacts: {1bad: x}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    shown = "\n".join(f"{e.line}: {e.path}: {e.message}" for e in caught.value.errors)
    assert "2: artifacts.store" in shown and "s3://bucket/prefix" in shown
    assert "artifacts" in shown and "1bad" in shown


async def test_upload_by_name_ships_the_kept_bytes_to_a_host(tmp_path: Path):
    from tests.sshd import running_fleet

    remote = tmp_path / "remote"
    remote.mkdir()
    ship = {"name": "ship", "on": "host0", "cwd": str(remote), "upload": ["pyz"],
            "run": "sha256sum shop.pyz"}  # fmt: skip
    with running_fleet(tmp_path / "fleet", 1) as fleet:
        hosts = {n: h.model_dump(exclude_none=True) for n, h in fleet.hosts().items()}
        phase = build_phase("shipped")
        # A later stage rebuilds dist/: the upload still ships what package kept.
        phase["stages"].append({"name": "rebuild", "run": BUILD.format(text="other"),
                                "needs": ["package"]})  # fmt: skip
        status, recorder, _ = await run_pipeline(
            tmp_path, phase, {"name": "Deploy", "stages": [ship]}, hosts=hosts
        )
    assert status is Status.SUCCEEDED, recorder.final("ship").reason
    assert (remote / "shop.pyz").read_bytes() == b"shipped"
    assert hashlib.sha256(b"shipped").hexdigest() in recorder.output("ship")


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ("{w: ../x.whl}", "artifacts.w"),
        ("[{path: /x, name: y}]", "artifacts[0]"),
        ("{w: {path: /x, optional: true}}", "artifacts.w"),
    ],
)
def test_every_artifacts_form_stays_inside_the_project(tmp_path: Path, given: str, where: str):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: p\nphases:\n  - name: A\n    stages:\n"
        f"      - {{name: b, run: x, artifacts: {given}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    (error,) = caught.value.errors
    assert error.line == 5 and error.path.endswith(where)
    assert "must stay inside the project" in error.message


def test_dry_run_shows_names_sources_and_uploads(tmp_path: Path):
    (tmp_path / "cdtui.yaml").write_text(
        "project: p\nphases:\n  - name: A\n    stages:\n"
        "      - {name: package, run: make, artifacts: {pyz: dist/*.pyz}}\n"
        "      - {name: ship, run: ./ship.sh, from: staging, upload: [pyz], needs: [package]}\n"
    )
    result = cli("run", tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "artifacts pyz: dist/*.pyz" in result.output
    assert "artifacts from staging" in result.output and "upload pyz" in result.output


def test_reading_commands_create_no_store(tmp_path: Path):
    from cdtui.store import store_exists

    for args in (("artifacts",), ("artifacts", "--json"), ("artifacts", "gc", "--dry-run")):
        result = cli(*args, "-C", tmp_path)
        assert result.exit_code == 0, result.output
    assert not store_exists(tmp_path)
    assert cli("promote", 1, "prod", "-C", tmp_path).exit_code == 2
