"""The ``log`` kind: the JSONL event log itself (the outbox, ``cdtui.notify.outbox``).

It has no worker (every event is written to it before any sink runs); this class lets
``cdtui notify test log`` and the registry treat it like any other kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdtui.notify.base import Payload, Sink


class LogSink(Sink):
    kind = "log"

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        return "written to the event log"
