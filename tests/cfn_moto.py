"""What moto 5.2's CloudFormation leaves out, added to the test server (it runs in this process)
the way AWS does it, so the cloudformation kind is tested on the sequences it meets for real:

- executing a change set does not refresh the stack's outputs (``ChangeSet.apply`` updates only
  the resources): they are rebuilt from the new template, as AWS does;
- no per-resource events: each change of the set gets ``*_IN_PROGRESS`` and ``*_COMPLETE``;
- no failure path (``# TODO: handle execution errors and implement rollback``; a resource that
  cannot be made is a 500): it becomes ``CREATE_FAILED`` naming the resource and the error, then
  ``ROLLBACK_IN_PROGRESS`` and ``ROLLBACK_COMPLETE``, as AWS reports a failed creation.

A template whose ``Metadata`` has ``test-hold: true`` stays ``*_IN_PROGRESS`` (moto flips every
status at once): what cancel and timeout are tested on.
"""

from __future__ import annotations

from typing import Any

_installed = False


class _ResourceFailed(Exception):
    def __init__(self, logical_id: str, kind: str, why: str) -> None:
        super().__init__(why)
        self.logical_id, self.kind, self.why = logical_id, kind, why


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from moto.cloudformation import models, parsing

    create = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id: str, resource_json: dict, *args: Any, **kw: Any):
        try:
            return create(logical_id, resource_json, *args, **kw)
        except Exception as error:
            raise _ResourceFailed(logical_id, resource_json.get("Type", "?"), str(error)) from error

    parsing.parse_and_create_resource = parse_and_create_resource
    execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        verb = "CREATE" if change_set.change_set_type == "CREATE" else "UPDATE"
        try:
            execute(self, change_set_name, stack_name)
        except _ResourceFailed as failed:
            event = _event(models, stack, failed.logical_id, failed.kind)
            event("CREATE_IN_PROGRESS")
            event("CREATE_FAILED", f"Resource handler returned message: {failed.why}")
            stack._add_stack_event(
                "ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to create: "
                f"[{failed.logical_id}]. Rollback requested by user.",
            )
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"
            change_set.execution_status = "EXECUTE_FAILED"
            return
        final = stack.events.pop()  # the stack's *_COMPLETE: resources finish before it
        if change_set.template_dict.get("Metadata", {}).get("test-hold"):
            stack.status = f"{verb}_IN_PROGRESS"  # a slow stack: it never finishes here
            return
        for change in change_set.changes:
            action = {"Add": "CREATE", "Remove": "DELETE"}.get(change.action, verb)
            event = _event(models, stack, change.logical_resource_id, change.resource_type)
            event(f"{action}_IN_PROGRESS")
            event(f"{action}_COMPLETE")
        stack.events.append(final)
        stack.template_dict = change_set.template_dict
        stack.output_map = stack._create_output_map()

    models.CloudFormationBackend.execute_change_set = execute_change_set


def _event(models: Any, stack: Any, logical: str, kind: str):
    def add(status: str, reason: str | None = None) -> None:
        stack.events.append(
            models.Event(
                stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical,
                physical_resource_id="", resource_type=kind, resource_status=status,
                resource_status_reason=reason, resource_properties=None,
            )
        )  # fmt: skip

    return add
