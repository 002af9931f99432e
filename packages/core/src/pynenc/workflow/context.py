"""``task.wf``: what a running workflow invocation can ask of its workflow.

Deterministic operations record their value in the workflow's durable data the first time an
invocation executes them and return the recorded value when the same invocation executes again
(a retry, or a re-run after its runner crashed). Each operation kind is counted per execution:
the n-th ``uuid()`` of an execution returns the n-th recorded uuid. So a workflow that makes the
same calls in the same order replays exactly; ``execute_task`` returns the child invocation
recorded at that position, whose result is already stored when it had finished, so completed
children are not run again.
"""

from __future__ import annotations

import random as _random
import uuid as _uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pynenc.call import Call
from pynenc.exceptions import NotInWorkflowError
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.invocation import context
from pynenc.workflow.identity import WorkflowIdentity

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.invocation.dist_invocation import DistributedInvocation
    from pynenc.task import Task
    from pynenc.types import Params, Result

T = TypeVar("T")

DETERMINISTIC_KEY_PREFIX = "pynenc.deterministic"
"""Workflow data keys under which deterministic values are recorded."""

_COUNTERS_ATTRIBUTE = "_pynenc_wf_counters"


class WorkflowContext:
    """The workflow of the invocation running in this thread (see the module doc)."""

    def __init__(self, app: Pynenc) -> None:
        self.app = app

    def _running(self, operation: str) -> tuple[DistributedInvocation[Any, Any], WorkflowIdentity]:
        invocation = context.current_invocation.get()
        if invocation is None or invocation.workflow is None:
            raise NotInWorkflowError(operation)
        return invocation, invocation.workflow

    # ---- identity

    @property
    def identity(self) -> WorkflowIdentity:
        """Id, type and parent of the running workflow."""
        return self._running("identity")[1]

    @property
    def workflow_id(self) -> InvocationId:
        return self.identity.workflow_id

    @property
    def parent_workflow_id(self) -> InvocationId | None:
        return self.identity.parent_workflow_id

    @property
    def in_workflow(self) -> bool:
        """Whether an invocation of a workflow runs in this thread (never raises)."""
        invocation = context.current_invocation.get()
        return invocation is not None and invocation.workflow is not None

    # ---- durable data

    def set_data(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the workflow's data (state backend, durable)."""
        invocation, identity = self._running("set_data")
        invocation.app.state_backend.set_workflow_data(identity, key, value)

    def get_data(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` in the workflow's data, or ``default``."""
        invocation, identity = self._running("get_data")
        return invocation.app.state_backend.get_workflow_data(identity, key, default)

    # ---- deterministic operations

    def uuid(self) -> str:
        """A random UUID (string form), the same one when this execution is replayed."""
        return self._deterministic("uuid", lambda: str(_uuid.uuid4()))

    def random(self) -> float:
        """A random float in [0, 1), the same one when this execution is replayed."""
        return self._deterministic("random", _random.random)

    def utc_now(self) -> datetime:
        """The app clock's current time, the time first recorded when replayed."""
        invocation, _ = self._running("utc_now")
        return self._deterministic("utc_now", invocation.app.clock.now)

    def execute_task(
        self, task: Task[Params, Result], *args: Any, **kwargs: Any
    ) -> DistributedInvocation[Params, Result]:
        """Call ``task`` as a child of this workflow, once: a replay returns the invocation
        recorded at this position (finished children are not run again). A workflow task
        becomes a sub-workflow whose parent is this workflow."""
        invocation, identity = self._running("execute_task")
        app = invocation.app
        bound = app.get_task(task.task_id)
        call: Call[Params, Result] = Call(bound, bound.bind_arguments(args, kwargs))
        backend = app.state_backend
        key = self._next_key(invocation, "execute_task")
        recorded = backend.get_workflow_data(identity, key)
        if recorded is None:
            child_id = new_invocation_id()
            backend.set_workflow_data(
                identity, key, {"invocation_id": child_id, "call_id": call.call_id.key}
            )
        else:
            child_id = InvocationId(recorded["invocation_id"])
            if recorded.get("call_id") != call.call_id.key:
                app.logger.warning(
                    "workflow %s replayed execute_task #%s with another call (%s, recorded %s): "
                    "returning the recorded invocation; keep workflow code deterministic",
                    identity.workflow_id[:7],
                    key.rsplit(":", 1)[-1],
                    call.call_id.key,
                    recorded.get("call_id"),
                )
            if backend.invocation_exists(child_id):
                existing: DistributedInvocation[Params, Result] = backend.get_invocation(child_id)
                return existing
        return self._register_child(invocation, identity, call, child_id)

    @staticmethod
    def _register_child(
        parent: DistributedInvocation[Any, Any],
        identity: WorkflowIdentity,
        call: Call[Params, Result],
        child_id: InvocationId,
    ) -> DistributedInvocation[Params, Result]:
        from pynenc.invocation.dist_invocation import DistributedInvocation

        orchestrator = parent.app.orchestrator
        if orchestrator.conf.cycle_control:
            orchestrator._check_cycles([call])
        workflow = (
            WorkflowIdentity(child_id, call.task.task_id, identity.workflow_id)
            if call.task.is_workflow
            else identity
        )
        child = DistributedInvocation(call, child_id, parent.invocation_id, workflow)
        routed = orchestrator.register_and_route([child])
        return routed[0] if routed else child

    def _deterministic(self, operation: str, produce: Callable[[], T]) -> T:
        invocation, identity = self._running(operation)
        backend = invocation.app.state_backend
        key = self._next_key(invocation, operation)
        recorded = backend.get_workflow_data(identity, key)
        if recorded is not None:
            value: T = recorded["value"]
            return value
        value = produce()
        backend.set_workflow_data(identity, key, {"value": value})
        return value

    @staticmethod
    def _next_key(invocation: DistributedInvocation[Any, Any], operation: str) -> str:
        """The record key of the next ``operation`` of this execution (counters live on the
        invocation object, which each execution loads afresh)."""
        counters: dict[str, int] = vars(invocation).setdefault(_COUNTERS_ATTRIBUTE, {})
        index = counters.get(operation, 0)
        counters[operation] = index + 1
        return f"{DETERMINISTIC_KEY_PREFIX}:{invocation.invocation_id}:{operation}:{index}"
