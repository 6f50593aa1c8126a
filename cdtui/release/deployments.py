"""Which stored artifact each colour was deployed with: the deploy command gets its path and
digest (``CDTUI_ARTIFACT``, ``CDTUI_ARTIFACT_SHA256``), and the deployment is a ``deployments``
row in runs.db (from the ``ColourDeployed`` event) so the release view can say what each colour
runs after a restart. The old STATE/deployments.jsonl is carried into it on first open.
"""

from __future__ import annotations

from pathlib import Path

from cdtui.store.release_state import Deployment

__all__ = ["Deployment", "latest", "record", "release_artifact"]


def release_artifact(project_dir: Path, verify: bool = True) -> tuple[str, str, int, Path] | None:
    """(path, sha256, run, stored copy) of the newest stored artifact, None when there is none.

    The stored copy is re-hashed first (``verify``): ArtifactError names the path and both digests
    when it no longer holds the bytes it was stored as, so a deploy never gets a corrupt file."""
    from cdtui.store import RunStore, store_exists
    from cdtui.store.artifacts import verify_stored

    if not store_exists(project_dir):
        return None
    with RunStore(project_dir) as store:
        found = store.latest_artifacts()
        if not found:
            return None
        newest = found[-1]
        stored = store.artifact_file(newest.sha256)
    if verify:
        verify_stored(stored, newest.sha256)
    return newest.path, newest.sha256, newest.run_id, stored


def record(project_dir: Path, deployment: Deployment) -> None:
    """One ``deployments`` row outside a run (tools, tests), written as the store writes a
    ``ColourDeployed`` event; a release emits that event on the bus instead."""
    from cdtui.release.events import ColourDeployed
    from cdtui.store import RunStore

    d = deployment
    with RunStore(project_dir) as store:
        store.record(ColourDeployed(d.run_id, d.at, d.colour, d.sha256, d.artifact, d.built_by))


def latest(project_dir: Path) -> dict[str, Deployment]:
    """The newest deployment of each colour (none where no store was ever made)."""
    from cdtui.store import RunStore, store_or_old_layout

    if not store_or_old_layout(project_dir):
        return {}
    with RunStore(project_dir) as store:
        return store.latest_deployments()
