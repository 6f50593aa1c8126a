"""One attempt's output on its way to the event stream: masked, decoded, maybe host-prefixed."""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable

from cdtui.engine.events import Event, StageOutput
from cdtui.engine.masking import SecretMasker

STREAMS = ("stdout", "stderr")


class OutputSink:
    """Masks and decodes per stream, then emits ``StageOutput`` events.

    With a ``prefix`` (a stage fanned out over several hosts) output is cut into lines and
    each line starts with its host, so a merged log still says where every line came from.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        masker: SecretMasker,
        run_id: int,
        phase: str,
        stage: str,
        attempt: int,
        host: str = "local",
        prefix: str = "",
    ) -> None:
        self.emit = emit
        self.run_id = run_id
        self.key = (phase, stage, attempt)
        self.host = host
        self.prefix = prefix
        self.maskers = {s: masker.stream() for s in STREAMS}
        self.decoders = {
            s: codecs.getincrementaldecoder("utf-8")(errors="replace") for s in STREAMS
        }
        self.partial = dict.fromkeys(STREAMS, "")

    def feed(self, stream: str, data: bytes, final: bool = False) -> None:
        masked = self.maskers[stream].flush() if final else self.maskers[stream].feed(data)
        text = self.decoders[stream].decode(masked, final=final)
        if self.prefix:
            text = self._prefixed(stream, text, final)
        if text:
            phase, stage, attempt = self.key
            self.emit(
                StageOutput(
                    self.run_id, time.time(), phase, stage, attempt, stream, text, self.host
                )
            )

    def _prefixed(self, stream: str, text: str, final: bool) -> str:
        text = self.partial[stream] + text
        body, newline, rest = text.rpartition("\n")
        self.partial[stream] = "" if final else rest
        lines = body.split("\n") if newline else []
        if final and rest:
            lines.append(rest)
        return "".join(f"{self.prefix}{line}\n" for line in lines)

    def close(self) -> None:
        for stream in STREAMS:
            self.feed(stream, b"", final=True)
