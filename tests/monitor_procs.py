"""``cdtui monitor`` as a real process for the monitor tests: its lines read as they come, SIGTERM
to stop it; and the rows and events it leaves behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CDTUI = [sys.executable, "-m", "cdtui.cli"]


class MonitorProcess:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.proc = subprocess.Popen(
            [*CDTUI, "monitor", str(project)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 15.0, after: int = 0) -> str:
        """The first line (from index ``after``) matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line like {pattern!r} within {timeout}s:\n" + self.text)

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def __enter__(self) -> MonitorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def events(project: Path, kind: str | None = None) -> list[dict[str, Any]]:
    shown = subprocess.run(
        [*CDTUI, "events", "--json", "-n", "100000", str(project)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    found = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    return [e for e in found if kind is None or e["kind"] == kind]


def alert_rows(project: Path) -> list[tuple[str, str]]:
    """(alert, state) of every monitor_alerts row, in order."""
    from cdtui.store.monitor_rows import MonitorRows

    with MonitorRows(project) as rows:
        return [(r.alert, r.state) for r in rows.history(10000)]


def write_pipeline(project: Path, monitor: dict[str, Any], **top: Any) -> Path:
    """A JSON pipeline file (durations may be plain seconds) with a trivial phase."""
    project.mkdir(parents=True, exist_ok=True)
    (project / ".cdtui").mkdir(exist_ok=True)
    phases = top.pop("phases", [{"name": "Commit", "stages": [{"name": "unit", "run": "true"}]}])
    data = {"project": "demo", "monitor": monitor, "phases": phases, **top}
    path = project / "cdtui.yaml"
    path.write_text(json.dumps(data))
    return path
