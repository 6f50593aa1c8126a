"""The SNS, SES and SQS sinks against a real moto server (and a loopback server for AWS's errors).

SNS is read back through an SQS queue subscribed to the topic; SES's sent mail through moto's
``/moto-api/data.json`` (moto keeps only the HTML part of a send_email, so the plain part is
read from the request as it went over the wire); SQS by receiving the messages.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from moto_server import Moto, start_moto, url_of
from pydantic import ValidationError

from cdtui.engine.masking import SecretMasker
from cdtui.notify import aws
from cdtui.notify.aws_config import SesConfig, SnsConfig, SqsConfig
from cdtui.notify.base import RetryLater, SinkError
from cdtui.notify.ses import SesSink
from cdtui.notify.sns import SnsSink
from cdtui.notify.sqs import SqsSink

ACCOUNT = "123456789012"  # moto's
SECRET = "hunter2-very-secret-token"


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    """Each test builds its clients from its own environment (credentials, profile)."""
    aws.close_clients()
    yield
    aws.close_clients()


def event(n: int = 1, **extra: Any) -> dict[str, Any]:
    payload = {
        "kind": "StageFinished",
        "id": f"ev-{n:04d}",
        "project": "shop",
        "run": 42,
        "phase": "deploy",
        "stage": "web",
        "status": "FAILED",
        "at": 1796083200.25,  # 2026-12-01 00:00:00 UTC
    }
    return payload | extra


def receive_all(sqs: Any, queue_url: str, expected: int) -> list[dict[str, Any]]:
    """Messages until ``expected`` arrived or the queue answers empty twice (no wall-clock wait)."""
    messages: list[dict[str, Any]] = []
    empty = 0
    while len(messages) < expected and empty < 2:
        reply = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        got = reply.get("Messages", [])
        empty = 0 if got else empty + 1
        messages += got
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def topic_with_queue(moto: Moto, name: str) -> tuple[str, str]:
    sqs, sns = moto.client("sqs"), moto.client("sns")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    return topic_arn, queue_url


def _text(body: str | bytes) -> str:
    return body if isinstance(body, str) else body.decode()


# --- import time --------------------------------------------------------------------------


def test_importing_the_aws_sinks_does_not_import_boto3():
    code = (
        "import sys, cdtui.notify.sns, cdtui.notify.ses, cdtui.notify.sqs, cdtui.notify.aws_config;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_config_models_import_no_cdtui_config():
    """cdtui.config.notify imports them: importing cdtui.config back would be a cycle."""
    code = "import sys, cdtui.notify.aws_config; print('cdtui.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- SNS ----------------------------------------------------------------------------------


async def test_sns_publishes_json_a_subscribed_queue_receives(moto: Moto):
    topic_arn, queue_url = topic_with_queue(moto, "deploys-json")
    sink = SnsSink("ops", SnsConfig(topic_arn=topic_arn, endpoint_url=moto.url))
    answer = await sink.send([event(lines=["step 1", "boom: exit 2"])])

    assert answer is not None and answer.startswith("publish: MessageId ")
    [message] = receive_all(moto.client("sqs"), queue_url, 1)
    envelope = json.loads(message["Body"])
    assert json.loads(envelope["Message"]) == event(lines=["step 1", "boom: exit 2"])
    assert envelope["Subject"] == "cdtui: shop run 42 FAILED at deploy/web"
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "kind": "StageFinished",
        "status": "FAILED",
        "project": "shop",
        "phase": "deploy",
        "stage": "web",
    }


def test_sns_words_the_event_for_email_and_sms_subscribers():
    sink = SnsSink("ops", SnsConfig(topic_arn=f"arn:aws:sns:eu-west-1:{ACCOUNT}:t"))
    bodies = json.loads(sink.request(event(stage="x" * 300, lines=["last line"]))["Message"])
    assert set(bodies) == {"default", "email", "sms"}
    assert len(bodies["sms"]) <= 140 and bodies["sms"].startswith("cdtui: shop run 42 FAILED")
    assert "last line" in bodies["email"] and "status" in bodies["email"]
    assert len(sink.request(event(stage="é\n" * 300))["Subject"]) <= 100
    assert sink.request(event(stage="é\nx"))["Subject"].isascii()


async def test_sns_clamps_a_huge_event_to_256_kb_and_keeps_the_last_lines(moto: Moto):
    topic_arn, queue_url = topic_with_queue(moto, "deploys-big")
    lines = [f"line {n} " + "x" * 100 for n in range(5000)]  # ~540 KB
    sink = SnsSink("ops", SnsConfig(topic_arn=topic_arn, endpoint_url=moto.url))
    request = sink.request(event(lines=lines))
    assert aws.message_size(request["Message"], request["MessageAttributes"]) <= 256 * 1024
    await sink.send([event(lines=lines)])

    [message] = receive_all(moto.client("sqs"), queue_url, 1)
    payload = json.loads(json.loads(message["Body"])["Message"])
    assert payload["clipped"] is True and payload["lines"][-1] == lines[-1]
    assert 100 < len(payload["lines"]) < len(lines)
    assert {k: payload[k] for k in event()} == event()


async def test_a_topic_that_does_not_exist_is_a_sink_error_naming_the_sink(moto: Moto):
    arn = f"arn:aws:sns:eu-west-1:{ACCOUNT}:no-such-topic"
    sink = SnsSink("ops-pager", SnsConfig(topic_arn=arn, endpoint_url=moto.url))
    with pytest.raises(SinkError) as caught:
        await sink.send([event()])
    text = str(caught.value)
    assert text.startswith("sns sink 'ops-pager': AWS NotFound on publish")
    assert "check sns.topic_arn" in text
    assert ACCOUNT not in text and moto.url not in text


async def test_a_stopped_moto_is_retry_later_without_its_url(aws_env):
    server = start_moto()
    url = url_of(server)
    sns = Moto(url).client("sns")
    topic_arn = sns.create_topic(Name="deploys-gone")["TopicArn"]
    sink = SnsSink("ops", SnsConfig(topic_arn=topic_arn, endpoint_url=url))
    await sink.send([event(1)])
    server.stop()
    with pytest.raises(RetryLater) as caught:
        await sink.send([event(2)])
    assert str(caught.value) == "sns sink 'ops': cannot reach AWS sns (EndpointConnectionError)"
    assert caught.value.retry_after is None


# --- SES ----------------------------------------------------------------------------------


async def test_ses_sends_a_plain_and_an_html_part(moto: Moto):
    moto.client("ses").verify_email_identity(EmailAddress="ci@example.com")
    config = SesConfig.model_validate(
        {"from": "ci@example.com", "to": ["ops@example.com"], "endpoint_url": moto.url}
    )
    sink = SesSink("mail", config)
    wire: list[dict[str, list[str]]] = []
    sink.client().meta.events.register(
        "before-send.ses.SendEmail",
        lambda request, **_: wire.append(urllib.parse.parse_qs(_text(request.body))),
    )
    await sink.send([event(lines=["<script>alert(1)</script>", "exit 2"])])

    [mail] = moto.data()["ses"]["Message"]
    assert mail["source"] == "ci@example.com"
    assert mail["destinations"]["ToAddresses"] == ["ops@example.com"]
    assert mail["subject"] == "cdtui: shop run 42 FAILED at deploy/web"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail["body"]
    assert "<script>" not in mail["body"] and "<pre>" in mail["body"]
    assert "<th align=left>project</th><td>shop</td>" in mail["body"]
    [sent] = wire
    plain = sent["Message.Body.Text.Data"][0]
    assert plain.startswith("shop run 42 FAILED at deploy/web\n")
    assert "  <script>alert(1)</script>\n  exit 2\n" in plain
    assert "at       2026-12-01 00:00:00 UTC\n" in plain
    assert sent["Message.Body.Html.Data"] == [mail["body"]]


async def test_ses_from_an_unverified_address_is_a_sink_error_with_the_fix(moto: Moto):
    config = SesConfig.model_validate(
        {"from": "nobody@example.com", "to": "ops@example.com", "endpoint_url": moto.url}
    )
    with pytest.raises(SinkError) as caught:
        await SesSink("mail", config).send([event()])
    assert str(caught.value).startswith("ses sink 'mail': AWS MessageRejected on send_email")
    assert "aws ses verify-email-identity" in str(caught.value)


# --- SQS ----------------------------------------------------------------------------------


async def test_sqs_sends_each_event_with_its_attributes(moto: Moto):
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName="deploys-plain")["QueueUrl"]
    sink = SqsSink("queue", SqsConfig(queue_url=queue_url, endpoint_url=moto.url))
    sent = [event(n, status=status) for n, status in enumerate(["RUNNING", "FAILED", "SKIPPED"])]
    assert await sink.send(sent) == "send_message_batch: 3 sent"
    assert (await sink.send([event(9)]) or "").startswith("send_message: MessageId ")

    messages = receive_all(sqs, queue_url, 4)
    bodies = sorted((json.loads(m["Body"]) for m in messages), key=lambda p: p["id"])
    assert bodies == [*sent, event(9)]
    by_id = {json.loads(m["Body"])["id"]: m["MessageAttributes"] for m in messages}
    assert by_id["ev-0001"]["status"] == {"DataType": "String", "StringValue": "FAILED"}
    assert by_id["ev-0001"]["kind"]["StringValue"] == "StageFinished"


async def test_a_fifo_queue_delivers_an_event_sent_twice_once_in_order(moto: Moto):
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName="deploys.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    config = SqsConfig(queue_url=queue_url, endpoint_url=moto.url)
    await SqsSink("fifo", config).send([event(1), event(2)])
    # A restarted cdtui (a new sink, nothing remembered) resends what it was not sure of.
    await SqsSink("fifo", config).send([event(2), event(3)])
    await SqsSink("fifo", config).send([event(3)])

    messages = receive_all(sqs, queue_url, 3)
    assert [json.loads(m["Body"])["id"] for m in messages] == ["ev-0001", "ev-0002", "ev-0003"]


async def test_a_missing_queue_is_a_sink_error(moto: Moto):
    config = SqsConfig(queue_url=f"{moto.url}/{ACCOUNT}/nope", endpoint_url=moto.url)
    with pytest.raises(SinkError) as caught:
        await SqsSink("queue", config).send([event()])
    text = str(caught.value)
    assert text.startswith("sqs sink 'queue': AWS AWS.SimpleQueueService.NonExistentQueue")
    assert "check sqs.queue_url" in text and ACCOUNT not in text


async def test_sqs_splits_a_batch_to_fit_256_kb(moto: Moto):
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName="deploys-split")["QueueUrl"]
    sink = SqsSink("queue", SqsConfig(queue_url=queue_url, endpoint_url=moto.url))
    sent = [event(n, lines=[f"{n}" * 60_000]) for n in range(10)]  # ~600 KB in all
    await sink.send(sent)
    messages = receive_all(sqs, queue_url, 10)
    assert sorted(json.loads(m["Body"])["id"] for m in messages) == [p["id"] for p in sent]


# --- AWS's answers, from a loopback server that speaks SNS's error format -----------------

ERROR_XML = (
    '<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId>"
    "</ErrorResponse>"
)


class _AwsAnswers(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, headers, code, message = self.server.answer  # type: ignore[attr-defined]
        body = ERROR_XML.format(code=code, message=message).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answers(aws_env) -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AwsAnswers)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


DENIED = (
    f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: SNS:Publish "
    f"on resource: arn:aws:sns:eu-west-1:{ACCOUNT}:deploys"
)


@pytest.mark.parametrize(
    ("status", "headers", "code", "retry", "retry_after", "says"),
    [
        (503, {"Retry-After": "7"}, "ServiceUnavailable", True, 7.0, "ServiceUnavailable"),
        (400, {}, "Throttling", True, None, "AWS Throttling on publish: Rate exceeded"),
        (429, {}, "TooManyRequests", True, None, "TooManyRequests"),
        (500, {}, "InternalFailure", True, None, "InternalFailure"),
        (403, {}, "AuthorizationError", False, None, "the credentials need sns:Publish"),
        (400, {}, "InvalidParameter", False, None, "AWS InvalidParameter on publish"),
    ],
)
async def test_aws_errors_map_to_retry_later_or_sink_error(
    answers, status, headers, code, retry, retry_after, says
):
    message = DENIED if code == "AuthorizationError" else "Rate exceeded"
    answers.answer = (status, headers, code, message)
    arn = f"arn:aws:sns:eu-west-1:{ACCOUNT}:deploys"
    sink = SnsSink("ops", SnsConfig(topic_arn=arn, endpoint_url=answers.url))
    with pytest.raises(RetryLater if retry else SinkError) as caught:
        await sink.send([event()])
    text = str(caught.value)
    assert text.startswith("sns sink 'ops': ") and says in text
    assert ACCOUNT not in text and answers.url not in text
    if retry:
        assert caught.value.retry_after == retry_after


async def test_error_texts_mask_secrets_and_urls(answers):
    leak = f"token {SECRET} rejected by https://ci:{SECRET}@hooks.example.com/x"
    answers.answer = (400, {}, "InvalidParameter", leak)
    arn = f"arn:aws:sns:eu-west-1:{ACCOUNT}:deploys"
    masker = SecretMasker([SECRET])
    context = SimpleNamespace(secrets={"hook": SECRET})  # a SinkContext's resolved secrets:
    sink = SnsSink("ops", SnsConfig(topic_arn=arn, endpoint_url=answers.url), context)
    with pytest.raises(SinkError) as caught:
        await sink.send([event()])
    assert str(caught.value) == (
        "sns sink 'ops': AWS InvalidParameter on publish: token *** rejected by <url>"
    )
    # An endpoint URL with credentials in it, unreachable: told by class only.
    down = SnsConfig(topic_arn=arn, endpoint_url=f"http://ci:{SECRET}@127.0.0.1:1")
    with pytest.raises(RetryLater) as caught:
        await SnsSink("ops", down, masker=masker).send([event()])
    assert SECRET not in str(caught.value) and "127.0.0.1" not in str(caught.value)


# --- credentials and config ---------------------------------------------------------------


async def test_a_profile_supplies_the_credentials(moto: Moto, aws_env, monkeypatch):
    topic_arn, queue_url = topic_with_queue(moto, "deploys-profile")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    (aws_env / "credentials").write_text(
        "[cdtui-ci]\naws_access_key_id = fromprofile\naws_secret_access_key = fromprofile\n"
    )
    endpoint = {"topic_arn": topic_arn, "endpoint_url": moto.url}
    with pytest.raises(SinkError, match=r"^sns sink 'ops': no AWS credentials: set AWS_PROFILE"):
        await SnsSink("ops", SnsConfig(**endpoint)).send([event(1)])
    with pytest.raises(SinkError, match="AWS profile 'nope' not found"):
        await SnsSink("ops", SnsConfig(**endpoint, profile="nope")).send([event(2)])
    await SnsSink("ops", SnsConfig(**endpoint, profile="cdtui-ci")).send([event(3)])
    [message] = receive_all(moto.client("sqs"), queue_url, 1)
    assert json.loads(json.loads(message["Body"])["Message"])["id"] == "ev-0003"


async def test_aws_endpoint_url_from_the_environment_is_honoured(moto: Moto, monkeypatch):
    topic_arn, queue_url = topic_with_queue(moto, "deploys-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    await SnsSink("ops", SnsConfig(topic_arn=topic_arn)).send([event()])
    assert len(receive_all(moto.client("sqs"), queue_url, 1)) == 1


def test_a_single_huge_line_is_clipped_not_dropped():
    sink = SqsSink("queue", SqsConfig(queue_url="https://sqs.eu-west-1.amazonaws.com/1/q"))
    payload, entry = sink.entry(event(lines=["y" * 400_000], note="kept"))
    assert payload["clipped"] is True and payload["note"] == "kept"
    assert 100_000 < len(payload["lines"][0]) < 256 * 1024
    assert aws.message_size(entry["MessageBody"], entry["MessageAttributes"]) <= 256 * 1024


def test_the_config_models_take_the_issue_keys():
    ses = SesConfig.model_validate(
        {"from": "CI <ci@example.com>", "to": "ops@example.com", "region": "eu-west-1"}
    )
    assert (ses.sender, ses.to, ses.target_region()) == (
        "CI <ci@example.com>",
        ("ops@example.com",),
        "eu-west-1",
    )
    sns = SnsConfig(topic_arn=f"arn:aws:sns:eu-west-1:{ACCOUNT}:deploys")
    assert sns.target_region() == "eu-west-1"
    assert SnsConfig(topic_arn=sns.topic_arn, region="us-east-1").target_region() == "us-east-1"
    sqs = SqsConfig(queue_url=f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/deploys.fifo")
    assert (sqs.target_region(), sqs.fifo) == ("eu-west-1", True)
    with pytest.raises(ValidationError):
        sqs.queue_url = "https://elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model", "data", "says"),
    [
        (SnsConfig, {"topic_arn": "deploys"}, "not an SNS topic ARN"),
        (SnsConfig, {"topic_arn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:t", "regoin": "x"}, "regoin"),
        (SesConfig, {"from": "ci", "to": ["ops@example.com"]}, "not an email address"),
        (SesConfig, {"from": "ci@example.com", "to": []}, "at least 1 item"),
        (SqsConfig, {"queue_url": "deploys"}, "queue_url"),
        (SqsConfig, {"queue_url": "http://q", "endpoint_url": "ftp://x"}, "endpoint_url"),
        (SqsConfig, {"queue_url": "http://q", "region": "Europe"}, "region"),
    ],
)
def test_bad_config_is_refused(model, data, says):
    with pytest.raises(ValidationError, match=says):
        model.model_validate(data)
