"""Pipeline-as-code: the typed models and the loader that reports every problem at its line."""

from __future__ import annotations

from cdtui.config.errors import ConfigError, LocatedError, format_errors
from cdtui.config.loader import find_pipeline_file, load_pipeline
from cdtui.config.secrets import resolve_secrets

__all__ = [
    "ConfigError",
    "LocatedError",
    "find_pipeline_file",
    "format_errors",
    "load_pipeline",
    "resolve_secrets",
]
