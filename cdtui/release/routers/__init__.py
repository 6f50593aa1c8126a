"""Routers behind one small interface, chosen by name from the release block.

Drivers load lazily: boto3 is imported only when the router is an ALB.
"""

from __future__ import annotations

from pathlib import Path

from cdtui.config.release import RouterSpec
from cdtui.release.routers.base import (
    InvalidWeights,
    Router,
    RouterError,
    RouterMismatch,
    RouterRejected,
    RouterUnreachable,
    Weights,
)

__all__ = [
    "InvalidWeights",
    "Router",
    "RouterError",
    "RouterMismatch",
    "RouterRejected",
    "RouterUnreachable",
    "Weights",
    "make_router",
]


def make_router(spec: RouterSpec, project_dir: Path) -> Router:
    """The driver for ``spec.kind``; relative socket paths are taken from ``project_dir``."""
    if spec.kind == "embedded":
        from cdtui.release.routers.embedded import EmbeddedRouter

        return EmbeddedRouter(project_dir)
    if spec.kind == "haproxy":
        from cdtui.release.routers.haproxy import HAProxyRouter

        return HAProxyRouter(spec, project_dir)
    if spec.kind == "alb":
        from cdtui.release.routers.alb import ALBRouter

        return ALBRouter(spec)
    raise RouterError(f"unknown router kind {spec.kind!r}: embedded, haproxy or alb")
