"""Workflows: a workflow task's invocation id is the workflow id of everything it calls;
``task.wf`` gives its identity, durable data and deterministic operations."""

from pynenc.workflow.context import WorkflowContext
from pynenc.workflow.identity import WorkflowIdentity

__all__ = ["WorkflowContext", "WorkflowIdentity"]
