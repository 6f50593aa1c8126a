"""The S3 artifact repository against a moto server: put/fetch verified, a byte flipped in S3
refused, a killed upload leaving nothing under its final key, a later run deploying an earlier
run's bytes from S3 alone, gc keeping promoted artifacts."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cdtui.artifacts.s3 import S3Repository
from cdtui.config.artifacts import ArtifactStore
from cdtui.engine.events import Status
from cdtui.store.artifacts import ArtifactError
from tests.artifact_runs import cli, run_pipeline
from tests.moto_server import REGION, Moto
from tests.test_artifact_repo import build_phase, deploy_phase, said

BUCKET = "shop-artifacts"


@pytest.fixture
def bucket(moto: Moto) -> Moto:
    moto.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return moto


def store_of(moto: Moto) -> ArtifactStore:
    return ArtifactStore(store=f"s3://{BUCKET}/builds", region=REGION, endpoint_url=moto.url)


def top(moto: Moto) -> dict:
    return {"artifacts": store_of(moto).model_dump(exclude_none=True)}


def write_project_file(project: Path, data: bytes) -> Path:
    (project / "dist").mkdir(exist_ok=True)
    path = project / "dist" / "app.pyz"
    path.write_bytes(data)
    return path


def test_put_then_fetch_is_verified_and_checksummed(bucket: Moto, tmp_path: Path):
    repo = S3Repository(store_of(bucket), tmp_path / "state")
    data = os.urandom(40 << 20)  # past the multipart threshold
    stored = repo.put(write_project_file(tmp_path, data), tmp_path)
    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest

    s3 = bucket.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=f"builds/sha256/{digest}", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="builds/incoming/")["KeyCount"] == 0

    repo.cached(digest).unlink()  # another machine: only S3 has the bytes
    fetched = repo.fetch(digest)
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == digest


def test_a_byte_flipped_in_s3_is_refused(bucket: Moto, tmp_path: Path):
    repo = S3Repository(store_of(bucket), tmp_path / "state")
    data = b"release me" * 1000
    digest = repo.put(write_project_file(tmp_path, data), tmp_path).sha256
    flipped = bytearray(data)
    flipped[17] ^= 0x01
    bucket.client("s3").put_object(
        Bucket=BUCKET, Key=f"builds/sha256/{digest}", Body=bytes(flipped)
    )
    repo.cached(digest).unlink()

    with pytest.raises(ArtifactError) as caught:
        repo.fetch(digest)
    got = hashlib.sha256(bytes(flipped)).hexdigest()
    assert f"digest mismatch: expected {digest} got {got}" in str(caught.value)
    assert not repo.cached(digest).exists()  # nothing unverified is left behind
    assert list(repo.cached(digest).parent.glob(".fetching-*")) == []


def test_a_killed_upload_leaves_no_object_under_its_final_key(bucket: Moto, tmp_path: Path):
    data_path = write_project_file(tmp_path, os.urandom(96 << 20))
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from cdtui.artifacts import s3
        from cdtui.config.artifacts import ArtifactStore
        s3.MULTIPART_CHUNK = 5 << 20
        store = ArtifactStore(store="s3://{BUCKET}/builds", region="{REGION}",
                              endpoint_url="{bucket.url}")
        s3.S3Repository(store, Path({str(tmp_path / "state")!r})).put(
            Path({str(data_path)!r}), Path({str(tmp_path)!r}))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    s3 = bucket.client("s3")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="builds/incoming/")
            if uploads.get("Uploads"):
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the upload never started (exit {child.poll()})")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="builds/sha256/")
    assert listed["KeyCount"] == 0, listed.get("Contents")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=BUCKET, Key=f"builds/sha256/{digest}")


async def test_a_later_run_deploys_an_earlier_runs_bytes_from_s3(bucket: Moto, tmp_path: Path):
    status, _, first = await run_pipeline(tmp_path, build_phase("first-bytes"), **top(bucket))
    assert status is Status.SUCCEEDED
    shutil.rmtree(tmp_path / ".cdtui" / "artifacts")  # a fresh machine: S3 is all there is
    assert cli("promote", first, "staging", "-C", tmp_path).exit_code == 0

    status, recorder, _ = await run_pipeline(
        tmp_path, build_phase("second"), deploy_phase(**{"from": "staging"}), **top(bucket)
    )
    assert status is Status.SUCCEEDED, recorder.final("deploy").reason
    seen = said(recorder, "deploy")
    assert seen["sha"] == hashlib.sha256(b"first-bytes").hexdigest()
    assert Path(seen["path"]).read_bytes() == b"first-bytes"


async def test_gc_on_s3_keeps_promoted_artifacts(bucket: Moto, tmp_path: Path):
    (tmp_path / "cdtui.yaml").write_text(
        f"project: p\nartifacts: {{store: 's3://{BUCKET}/builds', region: {REGION}, "
        f"endpoint_url: '{bucket.url}'}}\n"
        "phases: [{name: A, stages: [{name: b, run: 'true'}]}]\n"
    )
    runs = [
        (await run_pipeline(tmp_path, build_phase(t), **top(bucket)))[2] for t in ("g1", "g2", "g3")
    ]
    assert cli("promote", runs[0], "prod", "-C", tmp_path).exit_code == 0
    result = cli("artifacts", "gc", "--keep", 1, "-C", tmp_path)
    assert result.exit_code == 0, result.output
    keys = bucket.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="builds/sha256/")
    left = {item["Key"].rsplit("/", 1)[-1] for item in keys.get("Contents", [])}
    assert left == {hashlib.sha256(t.encode()).hexdigest() for t in ("g1", "g3")}


async def test_the_release_takes_the_tested_bytes_through_s3(bucket: Moto, tmp_path: Path):
    from cdtui.artifacts.release import release_artifact
    from tests.conftest import pipeline_of

    status, _, first = await run_pipeline(tmp_path, build_phase("ship-me"), **top(bucket))
    assert status is Status.SUCCEEDED
    shutil.rmtree(tmp_path / ".cdtui" / "artifacts")
    pipeline = pipeline_of(build_phase("x"), **top(bucket))

    path, digest, built_by, copy = release_artifact(tmp_path, pipeline)
    assert (path, built_by) == ("dist/shop.pyz", first)
    assert copy.read_bytes() == b"ship-me" and digest == hashlib.sha256(b"ship-me").hexdigest()

    bucket.client("s3").put_object(Bucket=BUCKET, Key=f"builds/sha256/{digest}", Body=b"ship-mE")
    copy.unlink()
    with pytest.raises(ArtifactError, match="digest mismatch"):
        release_artifact(tmp_path, pipeline)


async def test_an_unknown_profile_fails_the_stage_naming_it(bucket: Moto, tmp_path: Path):
    store = {**top(bucket)["artifacts"], "profile": "nobody-has-this"}
    status, recorder, _ = await run_pipeline(tmp_path, build_phase("x"), artifacts=store)
    assert status is Status.FAILED
    reason = recorder.final("package").reason
    assert "nobody-has-this" in reason and "crashed" not in reason
