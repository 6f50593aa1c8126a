"""The `sns:`, `ses:` and `sqs:` entries of `notify:`: where an AWS sink delivers, nothing secret.

Credentials never live here: boto3 finds them the usual way (environment, `profile`, instance
role). `region` may be left out where the target names it (a topic ARN, a queue URL) or the
environment does (AWS_DEFAULT_REGION); `endpoint_url` points a sink at a local stand-in (moto,
LocalStack) and, when unset, boto3 honours AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

_REGION = r"^[a-z]{2}(-[a-z0-9]+)+-\d+$"
_URL = r"^https?://[^\s/]+(/\S*)?$"
_TOPIC_ARN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
_QUEUE_REGION = re.compile(r"^https?://sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")
_ADDRESS = re.compile(r"^(?:[^<>@\s][^<>@]*<)?[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>?$")

Region = Annotated[str, Field(pattern=_REGION, description="e.g. eu-west-1")]


class AwsConfig(BaseModel):
    """What every AWS sink takes besides its target."""

    # cdtui.config.base.Model's settings, not the class: cdtui.config.notify imports this module,
    # and importing cdtui.config from here would run cdtui/config/__init__ first, a cycle.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    region: Region | None = None
    endpoint_url: Annotated[str, Field(pattern=_URL)] | None = None
    profile: Annotated[str, Field(min_length=1)] | None = None


class SnsConfig(AwsConfig):
    """`sns: {topic_arn, region}`: publish each event to a topic (SMS, email, queue subscribers)."""

    topic_arn: str

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not _TOPIC_ARN.match(value):
            raise ValueError(
                "not an SNS topic ARN: expected arn:aws:sns:REGION:ACCOUNT:NAME "
                "(aws sns list-topics prints them)"
            )
        return value

    def target_region(self) -> str | None:
        """The region to call: the configured one, else the topic's own."""
        found = _TOPIC_ARN.match(self.topic_arn)
        return self.region or (found["region"] if found else None)


class SesConfig(AwsConfig):
    """`ses: {from, to, region}`: an email per event, a plain and an HTML part."""

    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1, max_length=50)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(item) for item in value)

    def target_region(self) -> str | None:
        return self.region


class SqsConfig(AwsConfig):
    """`sqs: {queue_url, region}`: a message per event; a `.fifo` queue dedupes by event id."""

    queue_url: Annotated[str, Field(pattern=_URL)]

    @property
    def fifo(self) -> bool:
        return self.queue_url.rstrip("/").endswith(".fifo")

    def target_region(self) -> str | None:
        """The configured region, else the one in an AWS queue URL (sqs.REGION.amazonaws.com)."""
        found = _QUEUE_REGION.match(self.queue_url)
        return self.region or (found["region"] if found else None)


def _address(value: str) -> str:
    if not _ADDRESS.match(value.strip()):
        raise ValueError(f"not an email address: {value!r} (name@example.com or Name <name@...>)")
    return value.strip()
