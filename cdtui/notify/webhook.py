"""The generic webhook: one POST of one event's JSON, signed when a key is configured.

The signature is ``sha256=HEX`` of HMAC-SHA256(key, body) in ``X-Cdtui-Signature`` (GitHub's
scheme, so receivers have code for it); ``X-Cdtui-Event`` carries the id to dedupe on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cdtui.config.notify import WebhookConfig
from cdtui.notify.base import Payload, Sink, SinkContext
from cdtui.notify.http import Client
from cdtui.notify.payload import encode


def signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink(Sink):
    kind = "webhook"
    max_bytes = 256 << 10

    def __init__(
        self, name: str, config: WebhookConfig, context: SinkContext | None = None
    ) -> None:
        super().__init__(name, config, context)
        assert context is not None
        url = config.url or context.secret(name, config.url_env, config.url_secret, "the URL")
        self.url: str = url or ""
        self.client = Client(self.url)
        self.key = context.secret(name, config.secret_env, config.hmac_secret, "the HMAC key")

    def secret_values(self) -> list[str]:
        # A URL written in the file is no secret (a local listener); one from a secret is.
        hidden = [self.key or ""]
        if self.config.url is None:
            hidden.append(self.url)
        return [v for v in hidden if v]

    async def send(self, payloads: Sequence[Payload]) -> str | None:
        (payload,) = payloads
        body = encode(payload)
        headers = {"Content-Type": "application/json", "X-Cdtui-Event": str(payload.get("id"))}
        if self.key:
            headers[self.config.header] = signature(self.key, body)
        return await self.client.post(self.name, body, headers, self.config.timeout)

    async def close(self) -> None:
        self.client.drop()
