"""The command palette's commands, read from the screens' own ``BINDINGS``: a key added to a screen
is in its palette too, in the words the footer uses, and no second list can drift from the keys."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial

from textual import actions
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen

KEY_NAMES = {
    "end": "End",
    "home": "Home",
    "slash": "/",
    "question_mark": "?",
    "pageup": "PgUp",
    "pagedown": "PgDn",
}


def key_name(binding: Binding) -> str:
    """``question_mark`` as ``?``; several keys joined: what an operator types."""
    return ", ".join(KEY_NAMES.get(k, k) for k in binding.key.split(","))


def described(screen: Screen) -> list[Binding]:
    """The keys the screen's class declares with a description (not Screen's own focus keys)."""
    return [b for b in Binding.make_bindings(type(screen).BINDINGS) if b.description]


def binding_commands(
    app: App, screen: Screen, taken: Iterable[str] = ()
) -> Iterator[SystemCommand]:
    """One command per described key the screen allows now (``check_action``), titled by its
    description. Titles in ``taken`` (Textual's own Theme, Quit) are not offered twice."""
    seen = {title.casefold() for title in taken}
    for binding in described(screen):
        if binding.description.casefold() in seen or not _allowed(app, screen, binding.action):
            continue
        seen.add(binding.description.casefold())
        what = binding.tooltip or binding.description
        yield SystemCommand(
            binding.description,
            f"{what} (key {key_name(binding)})",
            partial(app.run_action, binding.action, screen),
        )


def _allowed(app: App, screen: Screen, action: str) -> bool:
    namespace, name, parameters = actions.parse(action)
    target: DOMNode = app if namespace == "app" else screen
    return bool(target.check_action(name, parameters))
