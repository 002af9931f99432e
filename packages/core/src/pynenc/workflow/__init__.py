"""Workflow identity (durable workflows build on it)."""

from pynenc.workflow.identity import WorkflowIdentity

__all__ = ["WorkflowIdentity"]
