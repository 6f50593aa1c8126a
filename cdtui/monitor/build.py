"""The project's monitor, assembled from its pipeline: the merged ``monitor:`` blocks, the checks
a release block brings, its secrets' masker, on the session's bus with its notifiers."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cdtui.config.monitor import MonitorSpec, merged
from cdtui.monitor.service import MonitorService


class NoMonitor(ValueError):
    """The pipeline has nothing to watch: no monitor block and no release block."""


def build_monitor(session: Any, say: Callable[[str], None] | None = None) -> MonitorService:
    from cdtui.config import resolve_secrets
    from cdtui.engine.masking import SecretMasker

    pipeline = session.pipeline
    if pipeline is None:
        raise NoMonitor("the pipeline file did not load")
    spec = merged(pipeline)
    release = session.release_phase()
    if spec is None and release is None:
        raise NoMonitor(
            "this pipeline has nothing to watch: add a monitor: block (checks and alerts) "
            "or a release: block"
        )
    spec = spec or MonitorSpec()
    checks = list(spec.checks)
    targets = None
    if release is not None and spec.release_checks:
        from cdtui.monitor.targets import ReleaseTargets, release_checks

        checks = release_checks(release[1], spec) + checks
        targets = ReleaseTargets(release[1], session.project_dir)
    secrets = resolve_secrets(pipeline, os.environ, file=str(session.path or "cdtui.yaml"))
    _ = session.store  # recorded like any run's events, before any other consumer
    session.start_notifier(secrets)
    return MonitorService(
        session, spec, checks, targets=targets, say=say, masker=SecretMasker(secrets.values())
    )
