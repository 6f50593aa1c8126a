"""The command pane: every external command cdtui runs on the operator's behalf, as it runs."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

MAX_COMMANDS = 500


class CommandLog(RichLog):
    """Bounded; one line per command (commands are few, so a RichLog is cheap enough here)."""

    DEFAULT_CSS = """
    CommandLog { dock: bottom; height: 8; border-top: tall $panel; background: $surface; }
    CommandLog.-hidden { display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_COMMANDS, wrap=False, markup=False, **kwargs)
        self.entries: deque[str] = deque(maxlen=MAX_COMMANDS)

    def record(self, where: str, command: str, at: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(at or time.time()))
        line = Text(no_wrap=True)
        line.append(f"{stamp} ", style="dim")
        line.append(f"[{where}] ", style="bold")
        line.append(command.strip().replace("\n", " ⏎ "))
        self.entries.append(line.plain)
        self.write(line)
