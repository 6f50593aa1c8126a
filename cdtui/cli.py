"""The ``cdtui`` command: a thin click shell over the core. Heavy modules load per command."""

from __future__ import annotations

import click

from cdtui import __version__


class _DefaultToOpen(click.Group):
    """``cdtui [DIR]`` opens the console; anything that is not a command name is a DIR."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (
            args[0] not in self.commands and args[0] not in ("-h", "--help", "--version")
        ):
            args = ["open", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToOpen, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cdtui")
def main() -> None:
    """A terminal deployment console: run, watch and release a delivery pipeline."""


def _register() -> None:
    from cdtui.commands.history import history
    from cdtui.commands.logs import logs
    from cdtui.commands.open import open_console
    from cdtui.commands.router import router
    from cdtui.commands.run import run, validate

    for command in (run, validate, history, logs, router):
        main.add_command(command)
    main.add_command(open_console, "open")


_register()


if __name__ == "__main__":
    main()
