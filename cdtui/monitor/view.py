"""What the console's monitor view draws, read from what the monitor shares (its snapshot, its
rows in runs.db, its lock) whichever process runs it: UI-free, so tests and other renderers read
the same facts. Reading never checks anything and never writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cdtui.monitor.state import Snapshot, read_snapshot, running_pid
from cdtui.store.monitor_rows import ActionRow, AlertRow

SPARK = "▁▂▃▄▅▆▇█"
OUTCOMES = {"o": "ok", "f": "failed", "n": "no_answer", "c": "checker"}


@dataclass(frozen=True)
class CheckLine:
    name: str
    kind: str
    target: str
    state: str
    detail: str
    history: tuple[tuple[str, float], ...]  # (outcome, latency ms), oldest first

    def spark(self, width: int) -> list[tuple[str, str]]:
        """(character, outcome) per recent check: height is latency, failures stand out."""
        recent = self.history[-width:]
        answered = [ms for outcome, ms in recent if outcome == "ok"]
        top = max(answered, default=1.0) or 1.0
        found = []
        for outcome, ms in recent:
            if outcome == "ok":
                found.append((SPARK[min(len(SPARK) - 1, int(ms / top * (len(SPARK) - 1)))], "ok"))
            else:
                found.append(("?" if outcome == "checker" else "✗", outcome))
        return found


@dataclass
class MonitorFacts:
    pid: int | None = None  # the monitor running now (0: running, pid unknown); None: none
    own: bool = False  # ... and it is this process
    started: float = 0.0
    checks: list[CheckLine] = field(default_factory=list)
    firing: list[AlertRow] = field(default_factory=list)
    history: list[AlertRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    stale: bool = False  # the snapshot is old: its monitor stalled or stopped
    seen: float = 0.0  # when the snapshot was written

    def headline(self) -> str:
        if self.pid is None:
            seen = time.strftime("%H:%M:%S", time.localtime(self.seen))
            last = f"; checks as last seen at {seen}" if self.checks else ""
            return f"no monitor runs: nobody watches production (s starts one here){last}"
        who = "in this console" if self.own else f"cdtui monitor (pid {self.pid})"
        since = time.strftime("%H:%M:%S", time.localtime(self.started)) if self.started else "?"
        firing = f"{len(self.firing)} firing" if self.firing else "nothing firing"
        stale = " · its last snapshot is old" if self.stale else ""
        return f"monitor running {who} since {since} · {len(self.checks)} checks · {firing}{stale}"


def read_facts(project_dir: Path, limit: int = 40) -> MonitorFacts:
    """Everything the view shows, in one read."""
    import os

    from cdtui.store import store_exists

    pid = running_pid(project_dir)
    snapshot: Snapshot | None = read_snapshot(project_dir)
    facts = MonitorFacts(pid=pid, own=pid == os.getpid())
    if snapshot is not None:  # a stopped monitor's last snapshot: shown as its last word
        facts.started, facts.stale = snapshot.started, not snapshot.fresh or not snapshot.pid
        facts.seen = snapshot.written
        for name, c in snapshot.checks.items():
            outcomes = [OUTCOMES.get(letter, "?") for letter in c.get("outcomes", "")]
            history = tuple(zip(outcomes, map(float, c.get("ms", [])), strict=False))
            facts.checks.append(
                CheckLine(
                    name,
                    c.get("kind", ""),
                    c.get("target", ""),
                    c.get("state", ""),
                    c.get("detail", ""),
                    history,
                )
            )
    if store_exists(project_dir):
        from cdtui.store.monitor_rows import MonitorRows

        with MonitorRows(project_dir, create=False) as rows:
            facts.firing = [r for r in rows.current().values() if r.firing]
            facts.history = rows.history(limit)
            facts.actions = rows.actions(limit)
    return facts
