"""The stored form of a call: task id, call id and serialized arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynenc.identifiers.call_id import CallId
from pynenc.identifiers.task_id import TaskId


@dataclass(frozen=True, slots=True)
class CallDTO:
    """What a backend stores of a call; arguments stay serialized until a runner needs them."""

    call_id: CallId
    serialized_arguments: dict[str, str] = field(default_factory=dict)

    @property
    def task_id(self) -> TaskId:
        return self.call_id.task_id

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id.key, "serialized_arguments": self.serialized_arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallDTO:
        return cls(CallId.from_key(data["call_id"]), dict(data["serialized_arguments"]))
