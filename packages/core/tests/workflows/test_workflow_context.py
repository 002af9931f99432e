"""``task.wf`` outside and inside workflows, and what registration records for workflows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.exceptions import NotInWorkflowError
from pynenc.invocation import context
from pynenc.testing import trigger_tasks

MEM_STACK: dict[str, Any] = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
}


@pytest.fixture
def app() -> Pynenc:
    return Pynenc(config_values={**MEM_STACK, "app_id": f"wf-{uuid.uuid4().hex[:8]}"})


@pytest.mark.parametrize("operation", ["uuid", "random", "utc_now", "identity"])
def test_a_deterministic_operation_outside_a_workflow_names_itself_in_the_error(
    app: Pynenc, operation: str
) -> None:
    wf = app.get_task(trigger_tasks.wf_data.task_id).wf
    with pytest.raises(NotInWorkflowError, match=rf"wf\.{operation}\(\)"):
        value = getattr(wf, operation)
        value() if callable(value) else None


def test_inside_a_plain_task_outside_workflows_wf_still_refuses(app: Pynenc) -> None:
    plain = app.get_task(trigger_tasks.source.task_id)
    invocation = plain(1)
    token = context.current_invocation.set(invocation)  # type: ignore[arg-type]
    try:
        assert not plain.wf.in_workflow
        with pytest.raises(NotInWorkflowError):
            plain.wf.uuid()
    finally:
        context.current_invocation.reset(token)


def test_deterministic_values_repeat_for_a_new_execution_of_the_same_invocation(
    app: Pynenc,
) -> None:
    workflow = app.get_task(trigger_tasks.wf_data.task_id)
    invocation = workflow("v")

    def execute() -> tuple[str, float, str]:
        fresh = app.state_backend.get_invocation(invocation.invocation_id)
        token = context.current_invocation.set(fresh)
        try:
            wf = workflow.wf
            return wf.uuid(), wf.random(), wf.uuid()
        finally:
            context.current_invocation.reset(token)

    first = execute()
    assert first[0] != first[2], "each call of one execution draws a new value"
    assert execute() == first, "a new execution replays the recorded values in order"


def test_plain_invocations_record_no_workflow(app: Pynenc) -> None:
    app.get_task(trigger_tasks.source.task_id)(1)
    assert list(app.state_backend.get_all_workflow_runs()) == []
