"""The workflow contract: workflow runs, sub-invocations and sub-workflows recorded in the state
backend, durable workflow data, and deterministic replay (uuid, random, time and child calls
return their recorded values when a workflow invocation runs again), with a runner serving the
app on the backend under test."""

from __future__ import annotations

from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.exceptions import NotInWorkflowError
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import tasks, trigger_tasks
from pynenc.testing.harness import RUNNER_CONFIG, WAIT_SECONDS, ConformanceHarness, ConformanceTests
from pynenc.workflow.identity import WorkflowIdentity


class WorkflowContract(ConformanceTests):
    """What workflows keep in the state backend and how they replay."""

    contract = "workflow"

    @pytest.fixture
    def live_app(self, harness: ConformanceHarness) -> Pynenc:
        app = harness.new_app(**RUNNER_CONFIG)
        harness.start_runner(app)
        return app

    # ------------------------------------------------------------------ identity and records

    def test_a_workflow_invocation_is_a_run_of_its_workflow_type(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        invocation = harness.register(app, trigger_tasks.wf_data, "x")
        expected = WorkflowIdentity(invocation.invocation_id, trigger_tasks.wf_data.task_id)
        assert invocation.workflow == expected, "a workflow's id is its invocation's id"
        backend = app.state_backend
        assert list(backend.get_workflow_runs(trigger_tasks.wf_data.task_id)) == [expected]
        assert trigger_tasks.wf_data.task_id in list(backend.get_all_workflow_types())

    def test_tasks_called_inside_a_workflow_belong_to_it_and_nested_ones_are_sub_workflows(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.task(trigger_tasks.wf_outer, live_app)()
        outcome: dict[str, Any] = invocation.wait(WAIT_SECONDS)
        workflow_id = invocation.invocation_id
        assert outcome["self"] == workflow_id
        assert outcome["child"] == {"workflow_id": workflow_id, "parent": None}
        assert outcome["direct"] == {"workflow_id": workflow_id, "parent": None}, (
            "a task called directly inside a workflow belongs to it too"
        )
        assert outcome["inner"]["parent"] == workflow_id, "a nested workflow has its parent"
        assert outcome["inner"]["workflow_id"] != workflow_id
        subs = list(live_app.state_backend.get_workflow_sub_invocations(workflow_id))
        assert len(subs) == 3 and outcome["inner"]["workflow_id"] in subs
        inner_runs = list(live_app.state_backend.get_workflow_runs(trigger_tasks.wf_inner.task_id))
        assert [run.parent_workflow_id for run in inner_runs] == [workflow_id]

    def test_workflow_data_is_stored_in_the_state_backend(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.register(live_app, trigger_tasks.wf_data, "durable")
        assert invocation.wait(WAIT_SECONDS) == {"value": "durable"}
        identity = WorkflowIdentity(invocation.invocation_id, trigger_tasks.wf_data.task_id)
        assert live_app.state_backend.get_workflow_data(identity, "stored") == {"value": "durable"}

    # ------------------------------------------------------------------ deterministic replay

    def test_a_rerun_workflow_gets_its_recorded_values_and_does_not_rerun_finished_children(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        key = trigger_tasks.unique_key()
        invocation = harness.register(live_app, trigger_tasks.wf_replayed, key, 3)
        outcome: dict[str, Any] = invocation.wait(WAIT_SECONDS)
        assert outcome["first"] == outcome["second"], (
            "uuid, random, utc_now and execute_task must return the recorded values on re-run"
        )
        assert outcome["second"]["children"] == [0, 1, 4]
        assert [tasks.attempts(f"{key}:{i}") for i in range(3)] == [1, 1, 1], (
            "a child that finished is not run again when its workflow re-runs"
        )
        statuses = harness.statuses(live_app, invocation.invocation_id)
        assert statuses.count(InvocationStatus.RUNNING) == 2, "the workflow itself ran twice"

    def test_deterministic_operations_outside_a_workflow_raise_a_clear_error(
        self, app: Pynenc
    ) -> None:
        wf = harness_task(app).wf
        for operation in (wf.uuid, wf.random, wf.utc_now):
            with pytest.raises(NotInWorkflowError, match="only be called while a workflow runs"):
                operation()
        with pytest.raises(NotInWorkflowError):
            wf.execute_task(trigger_tasks.wf_child, "k", 1)
        with pytest.raises(NotInWorkflowError):
            wf.set_data("k", 1)
        assert not wf.in_workflow


def harness_task(app: Pynenc) -> Any:
    return app.get_task(trigger_tasks.wf_replayed.task_id)
