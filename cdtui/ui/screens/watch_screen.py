"""What the release and monitor views share: the app's ReleaseWatch (replaced under an open view
when the release block is reloaded), their title line, and closing back to the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.css.query import NoMatches
from textual.screen import Screen

from cdtui.release.watch import ReleaseWatch


class WatchScreen(Screen[None]):
    KIND: ClassVar[str] = ""  # "release" | "monitor": what other screens ask instead of the class

    def __init__(self, watch: ReleaseWatch) -> None:
        super().__init__()
        self._watch = watch

    @property
    def watch(self) -> ReleaseWatch:
        """The app's current watch: a reloaded release block replaces it under an open view."""
        return self.app.release_watch or self._watch

    def paint(self, draw: Callable[[], None]) -> None:
        """Run ``draw`` unless this view is closing. Its timers and workers run in tasks of their
        own, so one can land while the swap to the other view removes its widgets: a widget
        missing then is no bug (it crashed the console once), one missing while shown still is."""
        try:
            draw()
        except NoMatches:
            if self.app.screen is self:
                raise

    def title_line(self, view: str) -> Text:
        """``cdtui · PROJECT · VIEW · `` for the view to go on with its own facts."""
        session = self.app.session
        project = session.pipeline.project if session and session.pipeline else "?"
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append("cdtui ", style="bold")
        title.append(f"· {project} · {view} · ")
        return title

    def action_close(self) -> None:
        self.dismiss()
