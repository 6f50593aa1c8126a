"""The ``cdtui`` command: a thin click shell over the core.

Subcommands load on demand, so ``cdtui [DIR]`` pays only for the console it opens.
"""

from __future__ import annotations

import importlib

import click

from cdtui import __version__

COMMANDS = {
    "watch": "cdtui.commands.watch:watch",
    "hook": "cdtui.commands.hook:hook",
    "open": "cdtui.commands.open:open_console",
    "run": "cdtui.commands.run:run",
    "validate": "cdtui.commands.run:validate",
    "history": "cdtui.commands.history:history",
    "logs": "cdtui.commands.logs:logs",
    "router": "cdtui.commands.router:router",
    "hosts": "cdtui.commands.hosts:hosts",
    "release": "cdtui.commands.release:release",
    "rollback": "cdtui.commands.release:rollback",
    "status": "cdtui.commands.release:status",
    "events": "cdtui.commands.events:events",
    "notify": "cdtui.commands.notify:notify",
    "artifacts": "cdtui.commands.artifacts:artifacts",
    "promote": "cdtui.commands.promote:promote",
    "monitor": "cdtui.commands.monitor:monitor",
}


class _LazyGroup(click.Group):
    """``cdtui [DIR]`` opens the console; anything that is not a command name is a DIR."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
            args = ["open", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cdtui")
def main() -> None:
    """A terminal deployment console: run, watch and release a delivery pipeline."""


if __name__ == "__main__":
    main()
