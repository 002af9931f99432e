"""Identifiers of tasks, calls and invocations."""

from pynenc.identifiers.call_id import CallId
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.identifiers.task_id import TaskId

__all__ = ["CallId", "InvocationId", "TaskId", "new_invocation_id"]
