"""The SQS sink: each event's JSON as a message, its kind and status as message attributes.

Up to ten events go in one ``send_message_batch`` (a drain after an outage is ten times
quicker), split so no request passes SQS's 256 KB. On a ``.fifo`` queue the event id is the
deduplication id, so an event the outbox sends twice (at-least-once) is delivered once; the
project is the message group, so a project's events keep their order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from cdtui.notify.aws import SIZE_LIMIT, AwsSink, attributes, clamp, dumps, message_size
from cdtui.notify.base import Payload, RetryLater, SinkError

BATCH_LIMIT = 10
_DEDUP_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


class SqsSink(AwsSink):
    kind = "sqs"
    service = "sqs"
    target = "queue_url"
    batch = BATCH_LIMIT
    linger = 0.05  # an API call per ten events rather than per event, when events come fast

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        entries = [self.entry(payload) for payload in self.fresh(payloads)]
        answer = None
        for chunk in _chunks(entries):
            if len(chunk) == 1:
                reply = await self.call(
                    "send_message", QueueUrl=self.config.queue_url, **chunk[0][1]
                )
                self.delivered(chunk[0][0])
                answer = f"send_message: MessageId {reply.get('MessageId', '?')}"
                continue
            reply = await self.call(
                "send_message_batch",
                QueueUrl=self.config.queue_url,
                Entries=[dict(entry, Id=str(n)) for n, (_, entry) in enumerate(chunk)],
            )
            for item in reply.get("Successful", []):
                self.delivered(chunk[int(item["Id"])][0])
            if reply.get("Failed"):
                raise self.batch_error(reply["Failed"])
            answer = f"send_message_batch: {len(chunk)} sent"
        return answer

    def entry(self, payload: Payload) -> tuple[Payload, dict[str, Any]]:
        """(payload, send_message arguments), the payload clamped to fit."""
        payload = clamp(payload, lambda p: _size(self._entry(p)) <= SIZE_LIMIT)
        return payload, self._entry(payload)

    def _entry(self, payload: Payload) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "MessageBody": dumps(payload),
            "MessageAttributes": attributes(payload),
        }
        if self.config.fifo:
            entry["MessageGroupId"] = _fifo_id(str(payload.get("project") or "cdtui"))
            entry["MessageDeduplicationId"] = _fifo_id(str(payload.get("id")))
        return entry

    def batch_error(self, failed: list[dict[str, Any]]) -> RetryLater | SinkError:
        """A partial failure: retried (delivered ones are skipped) unless the sender was wrong."""
        first = failed[0]
        text = (
            f"{len(failed)} of the batch failed: AWS {first.get('Code', '?')} on "
            f"send_message_batch: {first.get('Message', '')}"
        )
        if any(item.get("SenderFault") for item in failed):
            return self.error(text)
        return RetryLater(self.scrub(text))


def _fifo_id(value: str) -> str:
    """The value if SQS takes it as a group or deduplication id, else its SHA-256."""
    return value if _DEDUP_ID.match(value) else hashlib.sha256(value.encode()).hexdigest()


def _size(entry: dict[str, Any]) -> int:
    return message_size(entry["MessageBody"], entry["MessageAttributes"])


def _chunks(
    entries: list[tuple[Payload, dict[str, Any]]],
) -> list[list[tuple[Payload, dict[str, Any]]]]:
    """Batches of at most ten entries and 256 KB (SQS's limit for a whole batch request)."""
    chunks: list[list[tuple[Payload, dict[str, Any]]]] = []
    size = 0
    for item in entries:
        item_size = _size(item[1])
        if not chunks or len(chunks[-1]) == BATCH_LIMIT or size + item_size > SIZE_LIMIT:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks
