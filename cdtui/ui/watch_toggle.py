"""The console's W: watch mode on the main screen, the same loop ``cdtui watch`` runs.

While it is on, every save re-runs the Commit phase (or ``watch: phase:``) through the screen's
own run start, so the tree, the log and the store see it as any run; the header says what
triggered the run. Turning it off lets a run in progress finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdtui.session import Session
    from cdtui.watch.loop import Trigger, WatchLoop


class WatchToggle:
    """Mixed into the main screen: ``action_toggle_watch`` and the header's ``watch_text``."""

    session: Session
    readonly: bool
    watch_text: str = ""  # shown in the header while watch mode is on
    _watch: WatchLoop | None = None
    _watch_task: asyncio.Task | None = None

    if TYPE_CHECKING:

        def notify(self, message: str, **kwargs: Any) -> None: ...
        def _start(self, phases: tuple[str, ...], label: str = "") -> None: ...

    @property
    def watching(self) -> bool:
        return self._watch_task is not None and not self._watch_task.done()

    def action_toggle_watch(self) -> None:
        if self.watching:
            self.stop_watching()
            return
        if self.readonly or self.session.pipeline is None:
            self.notify("Watch mode needs a console running a valid pipeline.", severity="warning")
            return
        from cdtui.watch.loop import WatchLoop, default_phase

        phase = default_phase(self.session.pipeline)
        self._watch = WatchLoop(
            self.session,
            start=lambda trigger: self._watch_run(phase, trigger),
            say=self._watch_say,
            initial=False,
            reload=False,  # the console reloads cdtui.yaml on save itself
            cancel_on_stop=False,
        )
        self._watch_task = asyncio.get_running_loop().create_task(self._watch.run())
        self.watch_text = f"W watching → {phase}"
        self._dirty = True
        self.notify(f"Watch mode: each save re-runs {phase} (W stops).", title="Watch")

    def stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.stop.set()
        self.watch_text = ""
        self._dirty = True
        self.notify("Watch mode off.", title="Watch")

    async def on_unmount(self) -> None:
        """Quitting: the loop's watcher thread ends before the app does."""
        if self._watch_task is not None:
            if self._watch is not None:
                self._watch.stop.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task

    def _watch_run(self, phase: str, trigger: Trigger):
        what = trigger.describe()
        self.watch_text = f"W {what} → {phase}"
        self._dirty = True
        self._start((phase,), label=f"watch: {what}")  # the screen's own start (main_actions)
        return self.session.engine

    def _watch_say(self, level: str, text: str) -> None:
        severity = {"error": "error", "warning": "warning"}.get(level, "information")
        self.notify(text, title="Watch", severity=severity, timeout=6)  # type: ignore[arg-type]
