"""Secret values come from the environment, never from the file; short ones are refused."""

from __future__ import annotations

from collections.abc import Mapping

from cdtui.config.errors import ConfigError, LocatedError
from cdtui.config.models import MIN_SECRET_LENGTH, Pipeline


def secret_problem(env: str, value: str | None, optional: bool) -> tuple[str, str] | None:
    """(message, hint) when a secret's value is unusable, else None. Never mentions the value."""
    if not value:
        if optional:
            return None
        return (
            f"environment variable {env} is not set",
            f"export {env}=... before running cdtui, or add optional: true to this secret",
        )
    if len(value) < MIN_SECRET_LENGTH:
        return (
            f"the value of {env} is shorter than {MIN_SECRET_LENGTH} characters",
            "a short secret would mask ordinary words in every log line; use a longer one",
        )
    return None


def resolve_secrets(
    pipeline: Pipeline, environ: Mapping[str, str], *, file: str = "cdtui.yaml"
) -> dict[str, str]:
    """Secret name -> value for the run; an optional secret that is unset is simply absent.

    Raises ConfigError listing every unusable secret (at line 0: the model no longer knows lines;
    ``load_pipeline`` already reported them with lines when it checked secrets).
    """
    values: dict[str, str] = {}
    errors: list[LocatedError] = []
    for name, ref in pipeline.secrets.items():
        value = environ.get(ref.env)
        problem = secret_problem(ref.env, value, ref.optional)
        if problem is not None:
            errors.append(LocatedError(file, 0, 0, f"secrets.{name}.env", *problem))
        elif value:
            values[name] = value
    if errors:
        raise ConfigError(errors)
    return values
