"""The SNS sink: each event published to a topic, worded for whoever subscribed.

A topic feeds machines (SQS, Lambda, HTTP: they get the payload's JSON) and people (email: a
plain text; SMS: one short line, since every 160 characters is another paid text), so messages
go out with ``MessageStructure=json``, one body per protocol. ``kind``, ``status``, ``project``,
``phase`` and ``stage`` are message attributes, for subscription filter policies. A message is
clamped to SNS's 256 KB, attributes included.
"""

from __future__ import annotations

import json
from typing import Any

from cdtui.notify.aws import (
    SIZE_LIMIT,
    AwsSink,
    attributes,
    clamp,
    dumps,
    headline,
    message_size,
    plain_text,
)
from cdtui.notify.base import Payload

SUBJECT_LIMIT = 100  # SNS: ASCII, no line breaks, at most 100 characters
SMS_LIMIT = 140


class SnsSink(AwsSink):
    kind = "sns"
    service = "sns"
    method = "publish"
    target = "topic_arn"

    def request(self, payload: Payload) -> dict[str, Any]:
        """The publish call's arguments, the payload clamped to fit."""
        payload = clamp(payload, self._fits)
        return self._request(payload)

    def _fits(self, payload: Payload) -> bool:
        request = self._request(payload)
        return message_size(request["Message"], request["MessageAttributes"]) <= SIZE_LIMIT

    def _request(self, payload: Payload) -> dict[str, Any]:
        message = {
            "default": dumps(payload),
            "email": plain_text(payload),
            "sms": _clip(f"cdtui: {headline(payload)}", SMS_LIMIT),
        }
        request: dict[str, Any] = {
            "TopicArn": self.config.topic_arn,
            "Subject": subject(payload),
            "Message": json.dumps(message, ensure_ascii=False),
            "MessageStructure": "json",
            "MessageAttributes": attributes(payload),
        }
        if self.config.topic_arn.endswith(".fifo"):
            request["MessageGroupId"] = str(payload.get("project") or "cdtui")[:128]
            request["MessageDeduplicationId"] = str(payload.get("id"))[:128]
        return request


def subject(payload: Payload) -> str:
    """What an email subscriber sees first: printable ASCII on one line, at most 100 characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in f"cdtui: {headline(payload)}")
    return _clip(text.strip(), SUBJECT_LIMIT)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
