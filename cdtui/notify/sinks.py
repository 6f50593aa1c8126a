"""Sink kinds by their ``notify:`` key, imported only when an entry names them.

A sink module defines one ``Sink`` subclass (``cdtui.notify.base``) whose ``kind`` is its key,
and its config model lives in ``cdtui.config.notify`` (the AWS ones: ``SnsConfig``,
``SesConfig``, ``SqsConfig``). Registering a kind is one line in ``SINKS``: ``"sns":
"cdtui.notify.sns:SnsSink"``. Nothing imports the module until a pipeline names the kind, so
boto3 loads only when an AWS sink is configured. A plug-in may call ``register`` with its own.
"""

from __future__ import annotations

import importlib

from cdtui.notify.base import Sink, SinkContext

SINKS: dict[str, str] = {
    "log": "cdtui.notify.log:LogSink",
    "logstash": "cdtui.notify.logstash:LogstashSink",
    "slack": "cdtui.notify.slack:SlackSink",
    "webhook": "cdtui.notify.webhook:WebhookSink",
    "sns": "cdtui.notify.sns:SnsSink",
    "ses": "cdtui.notify.ses:SesSink",
    "sqs": "cdtui.notify.sqs:SqsSink",
}


def register(kind: str, target: str) -> None:
    """``target`` is ``module:Class``; the module is imported at first use."""
    SINKS[kind] = target


def sink_class(kind: str) -> type[Sink]:
    target = SINKS.get(kind)
    if target is None:
        raise KeyError(f"no sink kind {kind!r} (known: {', '.join(sorted(SINKS))})")
    module, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    assert issubclass(cls, Sink), target
    return cls


def make_sink(kind: str, name: str, config: object, context: SinkContext) -> Sink:
    return sink_class(kind)(name, config, context)
