"""Artifact put + verify throughput: cdtui's repository (local, and S3 on a moto server) vs
``cp`` + ``sha256sum`` of the same file.

cdtui's put copies the file into the content-addressed store hashing it as it goes; verify is
the fetch that re-hashes the stored copy (S3: the download into the local store, hashed). The
baseline copies the file and hashes the copy. Prints MB/s of each and the ratio (target: local
>= 0.7x the baseline). 200 MB in full mode, 4 MB with --quick.
Usage: python bench/artifact_put.py [--mb 200] [--runs 3] [--quick] [--no-s3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from _common import clock, drop_project, interleaved, moto_server, temp_project

from cdtui.artifacts.repository import ArtifactRepository, LocalRepository
from cdtui.store.artifacts import sha256_of


def make_file(project: Path, mb: int) -> Path:
    path = project / "dist" / "app.pyz"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))
    return path


def ours(repository: ArtifactRepository, source: Path, project: Path, digest: str) -> float:
    """One put and one verified fetch; nothing of an earlier run is reused (S3 object, cache)."""
    repository.remove(digest)
    shutil.rmtree(repository.state_dir, ignore_errors=True)
    began = clock()
    stored = repository.put(source, project)
    if not isinstance(repository, LocalRepository):
        repository.remove_cached(stored.sha256)  # the fetch downloads it, as another machine would
    repository.fetch(stored.sha256)
    return clock() - began


def baseline(source: Path, project: Path) -> float:
    target = project / "copy.bin"
    target.unlink(missing_ok=True)
    began = clock()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sha256sum", str(target)], check=True, stdout=subprocess.DEVNULL)
    return clock() - began


def s3_repository(project: Path):
    from cdtui.artifacts.s3 import S3Repository
    from cdtui.config.artifacts import ArtifactStore

    server, url = moto_server()
    store = ArtifactStore(
        store="s3://bench-artifacts/builds",
        region="eu-west-1",
        endpoint_url=url,
    )
    repository = S3Repository(store, project / "state-s3")
    repository.client.create_bucket(
        Bucket="bench-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return server, repository


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.runs = 4, 1
    project = temp_project()
    try:
        source = make_file(project, args.mb)
        digest = sha256_of(source)
        local = LocalRepository(project / "state")
        ours_s, base_s = interleaved(
            args.runs,
            lambda: ours(local, source, project, digest),
            lambda: baseline(source, project),
        )
        mb = args.mb
        print(f"file: {mb} MB, median of {args.runs}")
        print(f"cp + sha256sum:            {mb / base_s:8.1f} MB/s")
        print(f"cdtui local put + verify:  {mb / ours_s:8.1f} MB/s")
        print(f"ratio local/baseline: {base_s / ours_s:.2f}x (target >= 0.7x)")
        if not args.no_s3:
            server, s3 = s3_repository(project)
            try:
                s3_s = min(ours(s3, source, project, digest) for _ in range(args.runs))
            finally:
                server.stop()
            print(f"cdtui S3 (moto) put + fetch-verify: {mb / s3_s:8.1f} MB/s")
            print(f"ratio s3/baseline: {base_s / s3_s:.2f}x (moto keeps objects in Python memory)")
    finally:
        drop_project(project)


if __name__ == "__main__":
    main()
