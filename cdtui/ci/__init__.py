"""cdtui inside someone else's CI: JUnit reports, the event stream as JSON lines, GitHub
annotations and step summaries, collapsible log groups. Each is an event consumer that
``cdtui run --headless`` attaches; none is imported unless its option or environment asks."""

from __future__ import annotations

from collections.abc import Mapping


def ci_service(environ: Mapping[str, str]) -> str:
    """``github``, ``gitlab`` or '' (by the variables each service sets in every job)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    return ""
