"""CloudFormation through boto3, blocking calls the stage kind runs in a thread: a change set
made and described, executed, the stack's events read newest-first back to a cursor (its
newest event id seen), outputs read. Never boto3's waiters (30 s between looks).

Credentials are boto3's own chain; an error message names the cause, never a key.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdtui.infra.aws import boto_errors, why

TEMPLATE_BODY_MAX = 51_200  # CloudFormation's TemplateBody limit (larger goes through S3)
NO_CHANGES = ("didn't contain changes", "no updates are to be performed", "no changes")
CHANGE_SET_POLL_S = 0.5
CHANGE_SET_WAIT_S = 300.0


class CfnError(Exception):
    """The stack operation cannot go on; the message is the stage's failure reason."""


@dataclass(frozen=True)
class ChangeSet:
    name: str
    stack_id: str
    kind: str  # CREATE | UPDATE
    changes: list[dict[str, Any]]
    empty: bool = False


def explain(error: BaseException, what: str) -> CfnError:
    return CfnError(f"{what}: {why(error, 'cloudformation.region')}")


class Stack:
    """One stack's operations; every method blocks (call it from a thread)."""

    def __init__(
        self, name: str, region: str | None, endpoint_url: str | None, profile: str | None
    ):
        import boto3

        self.name = name
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            self.client = session.client("cloudformation", endpoint_url=endpoint_url)
        except boto_errors() as error:  # an unknown profile, no region
            raise explain(error, "cannot reach CloudFormation") from error
        self.stack_id = name

    def describe(self) -> dict[str, Any] | None:
        """The stack, None when it does not exist (or only as a deleted one)."""
        from botocore.exceptions import ClientError

        try:
            found = self.client.describe_stacks(StackName=self.stack_id)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise explain(error, f"cannot read stack {self.name}") from error
        except boto_errors() as error:
            raise explain(error, f"cannot read stack {self.name}") from error
        return found[0] if found else None

    def status(self) -> str:
        stack = self.describe()
        return "DELETE_COMPLETE" if stack is None else stack["StackStatus"]

    def outputs(self) -> dict[str, str]:
        stack = self.describe() or {}
        return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}

    def resource_count(self) -> int:
        try:
            pages = self.client.get_paginator("list_stack_resources").paginate(
                StackName=self.stack_id
            )
            return sum(len(page["StackResourceSummaries"]) for page in pages)
        except boto_errors():
            return 0

    def change_set(
        self, template: Path, parameters: dict[str, str], tags: dict[str, str], caps: list[str]
    ) -> ChangeSet:
        """Make the change set and wait (briefly, polling) until CloudFormation described it."""
        body = template.read_text(encoding="utf-8")
        if len(body.encode()) > TEMPLATE_BODY_MAX:
            raise CfnError(
                f"{template}: {len(body.encode())} bytes is over CloudFormation's "
                f"{TEMPLATE_BODY_MAX}-byte template body limit: split it into nested stacks"
            )
        existing = self.describe()
        kind = _kind(existing)
        if existing is not None and existing["StackStatus"] == "ROLLBACK_COMPLETE":
            raise CfnError(
                f"stack {self.name} is ROLLBACK_COMPLETE: its creation failed and it cannot be "
                "updated; delete it (a stage with delete: true) and run again"
            )
        if (
            existing is not None
            and existing["StackStatus"].endswith("IN_PROGRESS")
            and kind == "UPDATE"
        ):
            raise CfnError(
                f"stack {self.name} is {existing['StackStatus']}: another operation runs on it; "
                "wait for it to finish, then run the stage again"
            )
        name = f"cdtui-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        try:
            made = self.client.create_change_set(
                StackName=self.name,
                ChangeSetName=name,
                ChangeSetType=kind,
                TemplateBody=body,
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                Capabilities=caps,
            )
        except boto_errors() as error:
            if any(phrase in str(error).lower() for phrase in NO_CHANGES):
                return ChangeSet(
                    name, existing["StackId"] if existing else self.name, kind, [], True
                )
            raise explain(error, f"cannot make a change set for stack {self.name}") from error
        self.stack_id = made["StackId"]
        return self._described(name, kind)

    def _described(self, name: str, kind: str) -> ChangeSet:
        deadline = time.monotonic() + CHANGE_SET_WAIT_S
        while True:
            try:
                found = self.client.describe_change_set(StackName=self.stack_id, ChangeSetName=name)
            except boto_errors() as error:
                raise explain(error, f"cannot read change set {name}") from error
            status = found["Status"]
            if status == "FAILED":
                reason = found.get("StatusReason", "")
                if any(phrase in reason.lower() for phrase in NO_CHANGES):
                    self._drop(name)
                    return ChangeSet(name, self.stack_id, kind, [], True)
                raise CfnError(f"change set for stack {self.name} failed: {reason}")
            if status == "CREATE_COMPLETE":
                changes = list(found.get("Changes", []))
                while found.get("NextToken"):
                    found = self.client.describe_change_set(
                        StackName=self.stack_id, ChangeSetName=name, NextToken=found["NextToken"]
                    )
                    changes += found.get("Changes", [])
                return ChangeSet(name, self.stack_id, kind, changes)
            if time.monotonic() > deadline:
                raise CfnError(f"change set {name} still {status} after {CHANGE_SET_WAIT_S:.0f}s")
            time.sleep(CHANGE_SET_POLL_S)

    def reviewed(self, name: str) -> ChangeSet:
        """A change set made earlier (``execute: false``), if it can still be executed."""
        try:
            found = self.client.describe_change_set(StackName=self.name, ChangeSetName=name)
        except boto_errors() as error:
            raise explain(error, f"cannot read change set {name} of stack {self.name}") from error
        state = (found.get("Status"), found.get("ExecutionStatus"))
        if state != ("CREATE_COMPLETE", "AVAILABLE"):
            why = f": {found['StatusReason']}" if found.get("StatusReason") else ""
            raise CfnError(
                f"change set {name} of stack {self.name} cannot be executed "
                f"({'/'.join(map(str, state))}{why}): plan again"
            )
        self.stack_id = found["StackId"]
        return ChangeSet(
            name, self.stack_id, _kind(self.describe()), list(found.get("Changes", []))
        )

    def _drop(self, name: str) -> None:
        try:
            self.client.delete_change_set(StackName=self.stack_id, ChangeSetName=name)
        except boto_errors():
            pass  # an empty change set left behind costs nothing

    def execute(self, change_set: ChangeSet) -> None:
        try:
            self.client.execute_change_set(StackName=self.stack_id, ChangeSetName=change_set.name)
        except boto_errors() as error:
            raise explain(error, f"cannot execute change set {change_set.name}") from error

    def delete(self) -> None:
        stack = self.describe()
        if stack is not None:
            self.stack_id = stack["StackId"]  # a deleted stack is found by id only
        try:
            self.client.delete_stack(StackName=self.stack_id)
        except boto_errors() as error:
            raise explain(error, f"cannot delete stack {self.name}") from error

    def newest_event_id(self) -> str | None:
        try:
            found = self.client.describe_stack_events(StackName=self.stack_id)["StackEvents"]
        except boto_errors():
            return None  # no stack yet: every event is new
        return found[0]["EventId"] if found else None

    def events_since(self, cursor: str | None) -> list[dict[str, Any]]:
        """Events after ``cursor``, oldest first (pages are read newest-first up to it)."""
        fresh: list[dict[str, Any]] = []
        token: str | None = None
        try:
            while True:
                args: dict[str, Any] = {"StackName": self.stack_id}
                if token:
                    args["NextToken"] = token
                page = self.client.describe_stack_events(**args)
                for event in page["StackEvents"]:
                    if event["EventId"] == cursor:
                        return fresh[::-1]
                    fresh.append(event)
                token = page.get("NextToken")
                if not token:
                    return fresh[::-1]
        except boto_errors() as error:
            raise explain(error, f"cannot read the events of stack {self.name}") from error


def _kind(stack: dict[str, Any] | None) -> str:
    """CREATE for a stack that does not exist yet (or only waits for its first change set)."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"
    return "UPDATE"
