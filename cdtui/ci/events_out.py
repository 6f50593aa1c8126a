"""``--events FILE|-``: every event of the run as one JSON line, in the notifiers' shape
(``kind``, ``run``, ``phase``, ``stage``, ``status``, ``at``, then the event's fields).
Everything in an event is already masked."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from cdtui.engine.events import Event, RunStarted


class EventLines:
    def __init__(self, target: str) -> None:
        self.target = target
        self.out: TextIO = sys.stdout if target == "-" else open(target, "w", encoding="utf-8")  # noqa: SIM115
        self.project = ""

    def __call__(self, event: Event) -> None:
        from cdtui.notify.payload import new_id, to_payload

        if isinstance(event, RunStarted):
            self.project = event.project
        payload = to_payload(event, project=self.project, event_id=new_id(event.at))
        self.out.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        self.out.flush()
        if self.out is not sys.stdout:
            self.out.close()
