"""Records in the state backend which workflow runs exist and what runs inside each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.invocation.dist_invocation import DistributedInvocation


def record_workflow_membership(
    app: Pynenc, invocations: Sequence[DistributedInvocation[Any, Any]]
) -> None:
    """For newly registered invocations: a workflow invocation is a run of its workflow type
    (and a sub-invocation of its parent workflow); any other invocation of a workflow is one of
    its sub-invocations. Costs nothing for invocations outside workflows."""
    for invocation in invocations:
        workflow = invocation.workflow
        if workflow is None:
            continue
        backend = app.state_backend
        if workflow.workflow_id == invocation.invocation_id:
            backend.store_workflow_run(workflow)
            if workflow.parent_workflow_id is not None:
                backend.store_workflow_sub_invocation(
                    workflow.parent_workflow_id, invocation.invocation_id
                )
        else:
            backend.store_workflow_sub_invocation(workflow.workflow_id, invocation.invocation_id)
