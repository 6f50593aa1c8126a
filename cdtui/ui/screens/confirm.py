"""A deliberate confirmation: one named key, never Enter, never the key that opened it.

Keys that arrive in the first moments after the modal opens are ignored, so a held-down
key (auto-repeat) or a double press cannot confirm; once confirmed, the modal is gone and
further presses do nothing. Escape cancels. Both dialogs here keep their keys line in sight
on any terminal (80x24 too): the body scrolls, the title and the keys never do.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ARMING_DELAY = 0.4
CHROME = 8  # rows around the body: border 2, padding 2, title + its margin 2, keys + margin 2
SCROLL_KEYS = {
    "up": "scroll_up",
    "down": "scroll_down",
    "pageup": "scroll_page_up",
    "pagedown": "scroll_page_down",
}
DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: {width}; max-width: 95%; height: auto; max-height: 90%;
    border: thick ${colour}; background: $surface; padding: 1 2;
}}
{name} .title {{ text-style: bold; color: ${colour}; margin-bottom: 1; }}
{name} .body {{ height: auto; }}
{name} VerticalScroll {{ height: auto; }}
{name} .keys {{ margin-top: 1; color: $foreground-muted; }}
"""

T = TypeVar("T")


def keys_line(*keys: tuple[str, str]) -> Text:
    """``press y to release   Esc to cancel``: each key reversed, as on a keycap."""
    text = Text()
    for index, (key, what) in enumerate(keys):
        if index:
            text.append("   ")
        text.append("press " if index == 0 and len(key) == 1 else "")
        text.append(key, style="bold reverse")
        text.append(f" {what}")
    return text


class _Dialog(ModalScreen[T], Generic[T]):
    """Title, a body that scrolls when it must, and a keys line that is always on screen."""

    def __init__(self, title: str, body: RenderableType, width: int) -> None:
        super().__init__()
        self.title_text, self.body, self.width = title, body, width
        self.opened = time.monotonic()
        self._done = False

    def keys(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            with VerticalScroll():
                yield Static(self.body, classes="body")
            yield Static(keys_line(*self.keys()), classes="keys")

    def on_mount(self) -> None:
        self.opened = time.monotonic()
        self.query_one(Vertical).styles.width = self.width
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The body gets what the screen has left once title and keys are placed."""
        rows = max(3, int(self.app.size.height * 0.9) - CHROME)
        self.query_one(VerticalScroll).styles.max_height = rows
        self.call_after_refresh(self._say_scroll)

    def _say_scroll(self) -> None:
        if not self.is_attached:
            return
        keys = self.keys()
        if self.query_one(VerticalScroll).max_scroll_y > 0:
            keys.append(("↑↓", "to read the rest"))
        self.query_one(".keys", Static).update(keys_line(*keys))

    @property
    def keys_text(self) -> str:
        """What the keys line says now (for tests and screen readers)."""
        return str(self.query_one(".keys", Static).render())

    def scroll_key(self, key: str) -> bool:
        if key in SCROLL_KEYS:  # a long body: read all of it before deciding
            getattr(self.query_one(VerticalScroll), SCROLL_KEYS[key])()
            return True
        return False

    def armed(self) -> bool:
        return not self._done and time.monotonic() - self.opened >= ARMING_DELAY

    def _finish(self, result: T) -> None:
        self._done = True
        self.dismiss(result)


class ConfirmModal(_Dialog[bool]):
    """Dismisses with True only for ``confirm_key`` pressed after the arming delay."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmModal", width=72, colour="warning")

    def __init__(
        self,
        title: str,
        body: RenderableType,
        confirm_key: str = "y",
        confirm_label: str = "approve",
        *,
        width: int = 72,
    ) -> None:
        if confirm_key in ("enter", "escape", "space"):
            raise ValueError("the confirmation key must be a deliberate letter")
        super().__init__(title, body, width)
        self.confirm_key = confirm_key
        self.confirm_label = confirm_label

    def keys(self) -> list[tuple[str, str]]:
        return [(self.confirm_key, f"to {self.confirm_label}"), ("Esc", "to cancel")]

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self._done or self.scroll_key(event.key):
            return
        if event.key == "escape":
            self._finish(False)
        elif event.key == self.confirm_key and self.armed():
            self._finish(True)


class RefusalModal(_Dialog["str | None"]):
    """An action cdtui will not take: what was refused, why, and what to do.

    ``offer`` (key, what it does) is a way out the console can take at once, such as
    redeploying the rollback target: that key (after the arming delay) dismisses with the key;
    Esc, Enter or q close with None."""

    DEFAULT_CSS = DIALOG_CSS.format(name="RefusalModal", width=76, colour="error")

    def __init__(
        self, title: str, why: str, fix: str, *, offer: tuple[str, str] | None = None
    ) -> None:
        body = Text()
        body.append("Why: ", style="bold")
        body.append(why + "\n\n")
        body.append("What to do: ", style="bold")
        body.append(fix)
        super().__init__(f"Refused: {title}", body, 76)
        self.why, self.fix, self.offer = why, fix, offer

    def keys(self) -> list[tuple[str, str]]:
        offer = [(self.offer[0], f"to {self.offer[1]}")] if self.offer else []
        return [*offer, ("Esc", "to close")]

    def on_key(self, event: events.Key) -> None:
        event.stop()
        if self._done or self.scroll_key(event.key):
            return
        if event.key in ("escape", "enter", "q"):
            self._finish(None)
        elif self.offer is not None and event.key == self.offer[0] and self.armed():
            self._finish(event.key)
