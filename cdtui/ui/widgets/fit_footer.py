"""The footer, fitted to the terminal: never a key cut in half (``q▏``).

Textual's footer lays every shown binding in one row and clips what does not fit. This one
goes compact (less padding) when the full form is too wide, then leaves out the palette key,
then the last keys, one at a time; ``?`` (help lists every key) is kept to the end.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

KEEP = ("help",)  # the way to every key that had to go


def key_width(key: str, description: str, compact: bool) -> int:
    """Cells one key takes in the footer row (FooterKey's padding, the footer's margins)."""
    if compact:
        return len(key) + 1 + len(description) + 1  # "r Run" and a margin
    return 1 + len(key) + 1 + len(description) + 1  # " r Run "


class FitFooter(Footer):
    """A one-row footer that drops (never cuts) the keys that do not fit."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dropped: list[str] = []  # descriptions left out at this width, for tests and help
        self._width = 0

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        seen: set[str] = set()
        keys = []
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append((binding, enabled, tooltip))
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        if not (self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE):
            palette = None
        width = self.size.width or self.app.size.width
        keys, palette, compact = self._fit(keys, palette, width)
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        for binding, enabled, tooltip in keys:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        if palette is not None:
            _, binding, enabled, _ = palette
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not enabled,
                tooltip=binding.tooltip or binding.description,
            )

    def _fit(self, keys: list, palette, width: int) -> tuple[list, object, bool]:
        def need(chosen: list, compact: bool, with_palette: bool) -> int:
            total = sum(
                key_width(self.app.get_key_display(b), b.description, compact) for b, _, _ in chosen
            )
            if with_palette and palette is not None:
                binding = palette[1]
                total += key_width(self.app.get_key_display(binding), binding.description, False)
                total += 1  # its border
            return total

        self.dropped = []
        if need(keys, False, True) <= width:
            return keys, palette, self.compact
        if need(keys, True, True) <= width:
            return keys, palette, True
        kept = list(keys)
        if palette is not None:
            self.dropped.append(palette[1].description)
        while kept and need(kept, True, False) > width:
            droppable = [k for k in kept if k[0].action not in KEEP]
            if not droppable:
                break
            last = droppable[-1]
            kept.remove(last)
            self.dropped.insert(0, last[0].description)
        return kept, None, True
