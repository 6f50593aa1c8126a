"""A deliberate confirmation: one named key, never Enter, never the key that opened it.

Keys that arrive in the first moments after the modal opens are ignored, so a held-down
key (auto-repeat) or a double press cannot confirm; once confirmed, the modal is gone and
further presses do nothing. Escape cancels.
"""

from __future__ import annotations

import time

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ARMING_DELAY = 0.4


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only for ``confirm_key`` pressed after the arming delay."""

    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical {
        width: 72; max-width: 95%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmModal .title { text-style: bold; color: $warning; margin-bottom: 1; }
    ConfirmModal .body { height: auto; }
    ConfirmModal VerticalScroll { height: auto; max-height: 60vh; }
    ConfirmModal .keys { margin-top: 1; color: $foreground-muted; }
    """

    def __init__(
        self,
        title: str,
        body: RenderableType,
        confirm_key: str = "y",
        confirm_label: str = "approve",
        *,
        width: int = 72,
    ) -> None:
        super().__init__()
        self.width = width
        if confirm_key in ("enter", "escape", "space"):
            raise ValueError("the confirmation key must be a deliberate letter")
        self.title_text = title
        self.body = body
        self.confirm_key = confirm_key
        self.confirm_label = confirm_label
        self.opened = time.monotonic()
        self._done = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            with VerticalScroll():  # a long body scrolls; the keys below stay in sight
                yield Static(self.body, classes="body")
            yield Static(
                Text.assemble(
                    ("press ", ""),
                    (self.confirm_key, "bold reverse"),
                    (f" to {self.confirm_label}   ", ""),
                    ("Esc", "bold reverse"),
                    (" to cancel", ""),
                ),
                classes="keys",
            )

    def on_mount(self) -> None:
        self.opened = time.monotonic()
        self.query_one(Vertical).styles.width = self.width

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self._done:
            return
        scroll = {"up": "scroll_up", "down": "scroll_down", "pageup": "scroll_page_up"}
        scroll["pagedown"] = "scroll_page_down"
        if event.key in scroll:  # a long body: read all of it before deciding
            getattr(self.query_one(VerticalScroll), scroll[event.key])()
        elif event.key == "escape":
            self._finish(False)
        elif event.key == self.confirm_key and time.monotonic() - self.opened >= ARMING_DELAY:
            self._finish(True)

    def _finish(self, result: bool) -> None:
        self._done = True
        self.dismiss(result)


class RefusalModal(ModalScreen[None]):
    """An action cdtui will not take: what was refused, why, and what to do. Any key closes."""

    DEFAULT_CSS = """
    RefusalModal { align: center middle; }
    RefusalModal > Vertical {
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 1 2;
    }
    RefusalModal .title { text-style: bold; color: $error; margin-bottom: 1; }
    RefusalModal .body { height: auto; }
    RefusalModal .keys { margin-top: 1; color: $foreground-muted; }
    """

    def __init__(self, title: str, why: str, fix: str) -> None:
        super().__init__()
        self.title_text, self.why, self.fix = title, why, fix

    def compose(self) -> ComposeResult:
        body = Text()
        body.append("Why: ", style="bold")
        body.append(self.why + "\n\n")
        body.append("What to do: ", style="bold")
        body.append(self.fix)
        with Vertical():
            yield Static(f"Refused: {self.title_text}", classes="title")
            yield Static(body, classes="body")
            yield Static(Text.assemble(("Esc", "bold reverse"), (" to close", "")), classes="keys")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        if event.key in ("escape", "enter", "q"):
            self.dismiss(None)
