"""Which stored artifact each colour was deployed with: the deploy command gets its path and
digest (``CDTUI_ARTIFACT``, ``CDTUI_ARTIFACT_SHA256``), and the deployment is appended to
STATE/deployments.jsonl (STATE: the project's state dir) so the release view can say what each
colour runs after a restart.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cdtui.store.paths import state_dir

FILE = "deployments.jsonl"


@dataclass(frozen=True, slots=True)
class Deployment:
    colour: str
    sha256: str
    artifact: str  # the artifact's path in the project, as its stage stored it
    built_by: int  # the run whose stage stored these bytes
    run_id: int  # the run that deployed them
    at: float


def release_artifact(project_dir: Path) -> tuple[str, str, int, Path] | None:
    """(path, sha256, run, stored copy) of the newest stored artifact, None when there is none."""
    from cdtui.store import RunStore, store_exists

    if not store_exists(project_dir):
        return None
    with RunStore(project_dir) as store:
        found = store.latest_artifacts()
        if not found:
            return None
        newest = found[-1]
        return newest.path, newest.sha256, newest.run_id, store.artifact_file(newest.sha256)


def record(project_dir: Path, deployment: Deployment) -> None:
    path = state_dir(project_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(asdict(deployment)) + "\n")


def latest(project_dir: Path) -> dict[str, Deployment]:
    """The newest deployment of each colour; unreadable lines are skipped."""
    found: dict[str, Deployment] = {}
    try:
        lines = (state_dir(project_dir) / FILE).read_text(errors="replace").splitlines()
    except OSError:
        return found
    for line in lines[-500:]:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            deployment = Deployment(**json.loads(line))
            found[deployment.colour] = deployment
    return found
