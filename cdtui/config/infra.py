"""The infrastructure stage kinds' keys: ``cloudformation:`` and ``ansible:``.

Both are validated with the rest of the pipeline file (located errors, did-you-mean) without
importing boto3 or ansible; ``describe`` is what the tree, history and ``--dry-run`` show.
AWS credentials are never written here: boto3 finds them (environment, profile, role).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cdtui.config.base import Model
from cdtui.config.durations import Duration

STACK_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,127}$"
Scalar = str | int | float | bool


class CloudFormationSpec(Model):
    """Create or update ``stack`` from ``template`` through a change set, or ``delete`` it."""

    stack: str = Field(pattern=STACK_NAME)
    template: str | None = None  # a project file, or ${artifacts.NAME.path}
    parameters: dict[str, Scalar] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    delete: bool = False
    execute: bool = True  # false: make and show the change set only (a gate, then apply it)
    change_set: str | None = None  # apply this reviewed change set (${stages.plan.outputs...})
    capabilities: list[
        Literal["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    ] = Field(default_factory=list)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    poll: Duration = Field(2.0, ge=0.05, le=60)  # seconds between stack event reads

    @model_validator(mode="after")
    def _template_unless_delete(self) -> CloudFormationSpec:
        if self.delete and (self.template is not None or self.change_set is not None):
            raise ValueError("delete: true tears the stack down: drop template and change_set")
        if self.change_set is not None and self.template is not None:
            raise ValueError("change_set applies a reviewed change set: drop template")
        if not self.delete and not self.template and self.change_set is None:
            raise ValueError("template is required (a project file or ${artifacts.NAME.path})")
        return self

    def describe(self) -> str:
        if self.delete:
            return f"cloudformation: delete stack {self.stack}"
        if self.change_set is not None:
            return f"cloudformation: execute change set {self.change_set} on stack {self.stack}"
        if not self.execute:
            return f"cloudformation: plan stack {self.stack} from {self.template} (change set only)"
        params = f" with {', '.join(self.parameters)}" if self.parameters else ""
        return f"cloudformation: create/update stack {self.stack} from {self.template}{params}"


class AnsibleSpec(Model):
    """Run ``playbook`` with ``ansible-playbook``: the project's ``hosts:`` (or ``inventory``,
    or ``connection: local``), ``limit``, ``extra_vars`` (secrets masked), ``check`` mode."""

    playbook: str = Field(min_length=1)
    inventory: str | None = None  # a file; default: the pipeline's hosts:
    limit: str | None = None
    extra_vars: dict[str, Scalar | list[Scalar] | dict[str, Scalar]] = Field(default_factory=dict)
    check: bool = False
    diff: bool = False
    connection: Literal["local", "ssh"] | None = None
    tags: list[str] = Field(default_factory=list)
    verbosity: int = Field(0, ge=0, le=4)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_shorthand(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_inventory(self) -> AnsibleSpec:
        if self.connection == "local" and self.inventory:
            raise ValueError("connection: local runs on this machine: drop inventory")
        return self

    def describe(self) -> str:
        where = "local" if self.connection == "local" else (self.inventory or "hosts:")
        flags = " --check" if self.check else ""
        flags += f" --limit {self.limit}" if self.limit else ""
        return f"ansible-playbook {self.playbook} ({where}){flags}"
