"""Which workflow an invocation belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId


@dataclass(frozen=True, slots=True)
class WorkflowIdentity:
    """A workflow run: its id (the id of the invocation that started it), its type (the task
    that defines it) and, for sub-workflows, the workflow that started it."""

    workflow_id: InvocationId
    workflow_type: TaskId
    parent_workflow_id: InvocationId | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "workflow_type": self.workflow_type.key,
            "parent_workflow_id": self.parent_workflow_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowIdentity:
        return cls(
            workflow_id=InvocationId(data["workflow_id"]),
            workflow_type=TaskId.from_key(data["workflow_type"]),
            parent_workflow_id=(
                InvocationId(data["parent_workflow_id"]) if data.get("parent_workflow_id") else None
            ),
        )
