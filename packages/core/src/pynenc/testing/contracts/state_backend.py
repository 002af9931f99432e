"""The state backend contract: invocations, history, results and exceptions, workflows, app
info and runner contexts round-trip; time-range iteration and id-prefix lookup find what was
stored; purge touches only its own app."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.call import Call
from pynenc.exceptions import InvocationNotFoundError, InvocationStatusError
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.dist_invocation import DistributedInvocation
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.testing.harness import ConformanceHarness, ConformanceTests
from pynenc.util.clock import FakeClock
from pynenc.workflow.identity import WorkflowIdentity

S = InvocationStatus


def _invocation(
    harness: ConformanceHarness,
    app: Pynenc,
    *args: Any,
    invocation_id: InvocationId | None = None,
    parent: InvocationId | None = None,
    workflow: WorkflowIdentity | None = None,
) -> DistributedInvocation[Any, Any]:
    task = harness.task(tasks.add, app)
    call: Call[Any, Any] = Call(task, task.bind_arguments(args or (1, 2), {}))
    return DistributedInvocation(call, invocation_id, parent, workflow)


def _stored_invocations(
    harness: ConformanceHarness, app: Pynenc, count: int, **kwargs: Any
) -> list[DistributedInvocation[Any, Any]]:
    invocations = [_invocation(harness, app, i, i, **kwargs) for i in range(count)]
    app.state_backend.upsert_invocations(invocations)
    return invocations


def _record(
    status: InvocationStatus, runner: RunnerContext, clock: FakeClock
) -> InvocationStatusRecord:
    return InvocationStatusRecord(status, runner.runner_id, clock.now())


class StateBackendContract(ConformanceTests):
    """The durable record kept by ``state_backend_cls``."""

    contract = "state_backend"

    # ------------------------------------------------------------------ invocations

    def test_an_invocation_round_trips_with_its_call_parent_and_workflow(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        workflow = WorkflowIdentity(new_invocation_id(), tasks.add.task_id, new_invocation_id())
        parent = new_invocation_id()
        stored = _invocation(harness, app, 4, 5, parent=parent, workflow=workflow)
        app.state_backend.upsert_invocations([stored])

        loaded = app.state_backend.get_invocation(stored.invocation_id)

        assert loaded.invocation_id == stored.invocation_id
        assert loaded.call.call_id == stored.call.call_id
        assert loaded.call.arguments == {"x": 4, "y": 5}
        assert loaded.parent_invocation_id == parent
        assert loaded.workflow == workflow
        assert loaded.task.task_id == tasks.add.task_id

    def test_an_upsert_replaces_the_stored_invocation(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        first = _invocation(harness, app, 1, 1)
        app.state_backend.upsert_invocations([first])
        workflow = WorkflowIdentity(first.invocation_id, tasks.add.task_id)
        again = _invocation(
            harness, app, 1, 1, invocation_id=first.invocation_id, workflow=workflow
        )
        app.state_backend.upsert_invocations([again])
        assert app.state_backend.get_invocation(first.invocation_id).workflow == workflow

    def test_a_batch_is_returned_in_the_order_asked(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        stored = _stored_invocations(harness, app, 6)
        wanted = [stored[i].invocation_id for i in (4, 0, 5, 2)]
        loaded = app.state_backend.get_invocations(wanted)
        assert [inv.invocation_id for inv in loaded] == wanted

    def test_an_unknown_invocation_is_not_found(self, app: Pynenc) -> None:
        with pytest.raises(InvocationNotFoundError):
            app.state_backend.get_invocation(new_invocation_id())
        assert not app.state_backend.invocation_exists(new_invocation_id())

    def test_a_batch_with_an_unknown_invocation_is_not_found(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        (stored,) = _stored_invocations(harness, app, 1)
        with pytest.raises(InvocationNotFoundError):
            app.state_backend.get_invocations([stored.invocation_id, new_invocation_id()])

    def test_child_invocations_are_listed_under_their_parent(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        (parent,) = _stored_invocations(harness, app, 1)
        children = _stored_invocations(harness, app, 3, parent=parent.invocation_id)
        _stored_invocations(harness, app, 2)
        listed = set(app.state_backend.get_child_invocations(parent.invocation_id))
        assert listed == {child.invocation_id for child in children}
        assert list(app.state_backend.get_child_invocations(new_invocation_id())) == []

    def test_invocation_ids_are_found_by_prefix(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        prefix = uuid.uuid4().hex[:8]
        matching = [InvocationId(prefix + uuid.uuid4().hex[8:]) for _ in range(3)]
        for invocation_id in [*matching, new_invocation_id()]:
            app.state_backend.upsert_invocations(
                [_invocation(harness, app, invocation_id=invocation_id)]
            )
        assert sorted(app.state_backend.find_invocation_ids_by_prefix(prefix)) == sorted(matching)
        assert len(app.state_backend.find_invocation_ids_by_prefix(prefix, limit=2)) == 2
        found_upper = app.state_backend.find_invocation_ids_by_prefix(prefix.upper())
        assert sorted(found_upper) == sorted(matching), "the prefix is case-insensitive"
        with pytest.raises(ValueError):
            app.state_backend.find_invocation_ids_by_prefix(prefix[:3])

    # ------------------------------------------------------------------ history

    def test_history_is_returned_oldest_first_with_one_entry_per_change(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        backend = clocked_app.state_backend
        runner = harness.runner_context()
        invocation_id = new_invocation_id()
        changes = [S.REGISTERED, S.PENDING, S.RUNNING, S.SUCCESS]
        for status in changes:
            backend.add_history(invocation_id, _record(status, runner, fake_clock), runner)
            fake_clock.advance(1)
        history = backend.get_history(invocation_id)
        assert [h.status_record.status for h in history] == changes
        assert [h.status_record.timestamp for h in history] == sorted(
            h.status_record.timestamp for h in history
        )
        assert backend.get_history(new_invocation_id()) == []

    def test_each_history_entry_names_a_retrievable_runner_context(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        backend = clocked_app.state_backend
        parent = harness.runner_context("parent")
        child = parent.new_child("ConformanceChild", f"conformance-child-{uuid.uuid4().hex}")
        invocation_id = new_invocation_id()
        backend.add_history(invocation_id, _record(S.PENDING, parent, fake_clock), parent)
        fake_clock.advance(1)
        backend.add_history(invocation_id, _record(S.RUNNING, child, fake_clock), child)
        backend._runner_contexts.clear()

        history = backend.get_history(invocation_id)

        assert [backend.get_runner_context(h.runner_context_id) for h in history] == [
            parent,
            child,
        ], "the runner context of every history entry must be stored, parent included"

    def test_a_batch_of_histories_records_one_entry_per_invocation(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        backend = clocked_app.state_backend
        runner = harness.runner_context()
        ids = [new_invocation_id() for _ in range(4)]
        registered_by = new_invocation_id()
        record = _record(S.REGISTERED, runner, fake_clock)
        backend.add_histories_by_id(ids, record, runner, registered_by)
        for invocation_id in ids:
            (entry,) = backend.get_history(invocation_id)
            assert entry.status_record == record
            assert entry.registered_by_inv_id == registered_by

    def test_history_in_a_time_range_is_returned_oldest_first_end_excluded(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        backend = clocked_app.state_backend
        runner = harness.runner_context()
        start = fake_clock.now()
        ids = [new_invocation_id() for _ in range(4)]
        for invocation_id in ids:
            backend.add_history(invocation_id, _record(S.REGISTERED, runner, fake_clock), runner)
            fake_clock.advance(60)

        batches = list(
            backend.iter_history_in_timerange(
                start + timedelta(minutes=1), start + timedelta(minutes=3), batch_size=1
            )
        )

        assert [[h.invocation_id for h in batch] for batch in batches] == [[ids[1]], [ids[2]]]

    def test_invocations_in_a_time_range_are_listed_once_each(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        backend = clocked_app.state_backend
        runner = harness.runner_context()
        start = fake_clock.now()
        first, second = new_invocation_id(), new_invocation_id()
        for status in (S.REGISTERED, S.PENDING, S.RUNNING):
            for invocation_id in (first, second):
                backend.add_history(invocation_id, _record(status, runner, fake_clock), runner)
                fake_clock.advance(1)
        batches = list(
            backend.iter_invocations_in_timerange(start, fake_clock.now(), batch_size=10)
        )
        assert [i for batch in batches for i in batch] == [first, second]

    # ------------------------------------------------------------------ results

    def test_a_result_round_trips(self, app: Pynenc) -> None:
        invocation_id = new_invocation_id()
        value = {"values": [1, 2.5, "three"], "point": tasks.Point(1, 2)}
        app.state_backend.set_result(invocation_id, value)
        assert app.state_backend.get_result(invocation_id) == value

    def test_an_exception_round_trips_with_its_type_and_arguments(self, app: Pynenc) -> None:
        invocation_id = new_invocation_id()
        app.state_backend.set_exception(invocation_id, tasks.ConformanceTaskError("boom", 7))
        loaded = app.state_backend.get_exception(invocation_id)
        assert type(loaded) is tasks.ConformanceTaskError
        assert loaded.args == ("boom", 7)

    def test_a_builtin_exception_round_trips(self, app: Pynenc) -> None:
        invocation_id = new_invocation_id()
        app.state_backend.set_exception(invocation_id, KeyError("missing"))
        loaded = app.state_backend.get_exception(invocation_id)
        assert type(loaded) is KeyError and loaded.args == ("missing",)

    def test_results_of_different_invocations_are_kept_apart(self, app: Pynenc) -> None:
        first, second = new_invocation_id(), new_invocation_id()
        app.state_backend.set_result(first, "first")
        app.state_backend.set_result(second, "second")
        assert app.state_backend.get_result(first) == "first"
        assert app.state_backend.get_result(second) == "second"
        assert app.state_backend._get_result(new_invocation_id()) is None
        assert app.state_backend._get_exception(first) is None

    # ------------------------------------------------------------------ workflows

    def test_workflow_data_round_trips_and_defaults_when_missing(self, app: Pynenc) -> None:
        workflow = WorkflowIdentity(new_invocation_id(), tasks.add.task_id)
        other = WorkflowIdentity(new_invocation_id(), tasks.add.task_id)
        backend = app.state_backend
        backend.set_workflow_data(workflow, "step", {"done": [1, 2]})
        backend.set_workflow_data(workflow, "step", {"done": [1, 2, 3]})
        assert backend.get_workflow_data(workflow, "step") == {"done": [1, 2, 3]}
        assert backend.get_workflow_data(workflow, "missing", default="none") == "none"
        assert backend.get_workflow_data(other, "step") is None

    def test_workflow_runs_are_listed_by_type(self, app: Pynenc) -> None:
        backend = app.state_backend
        add_runs = [WorkflowIdentity(new_invocation_id(), tasks.add.task_id) for _ in range(2)]
        echo_run = WorkflowIdentity(
            new_invocation_id(), tasks.echo.task_id, add_runs[0].workflow_id
        )
        for run in [*add_runs, echo_run]:
            backend.store_workflow_run(run)
        assert sorted(backend.get_all_workflow_types(), key=str) == sorted(
            [tasks.add.task_id, tasks.echo.task_id], key=str
        )
        assert sorted(backend.get_workflow_runs(tasks.add.task_id), key=str) == sorted(
            add_runs, key=str
        )
        assert list(backend.get_workflow_runs(tasks.echo.task_id)) == [echo_run]
        assert len(list(backend.get_all_workflow_runs())) == 3
        assert list(backend.get_workflow_runs(TaskId("no.such", "workflow"))) == []

    def test_workflow_sub_invocations_are_listed_once_in_order(self, app: Pynenc) -> None:
        backend = app.state_backend
        workflow = WorkflowIdentity(new_invocation_id(), tasks.add.task_id)
        backend.store_workflow_run(workflow)
        subs = [new_invocation_id() for _ in range(3)]
        for sub in [*subs, subs[0]]:
            backend.store_workflow_sub_invocation(workflow.workflow_id, sub)
        assert list(backend.get_workflow_sub_invocations(workflow.workflow_id)) == subs
        by_workflow = backend.get_invocation_ids_by_workflow(workflow_id=workflow.workflow_id)
        assert list(by_workflow) == subs
        by_type = backend.get_invocation_ids_by_workflow(workflow_type_key=tasks.add.task_id.key)
        assert list(by_type) == subs

    # ------------------------------------------------------------------ app info

    def test_app_info_round_trips(self, clocked_app: Pynenc) -> None:
        info = clocked_app.app_info()
        clocked_app.state_backend.store_app_info(info)
        assert clocked_app.state_backend.get_app_info() == info

    def test_missing_app_info_is_a_lookup_error(self, app: Pynenc) -> None:
        with pytest.raises(LookupError):
            app.state_backend.get_app_info()

    def test_app_infos_of_every_app_on_the_backend_are_discovered(
        self, harness: ConformanceHarness
    ) -> None:
        first, second = harness.new_app(), harness.new_app()
        first.store_app_info()
        second.store_app_info()
        discovered = first.state_backend.discover_app_infos()
        assert {first.app_id, second.app_id} <= set(discovered)
        assert discovered[second.app_id].app_id == second.app_id

    # ------------------------------------------------------------------ runner contexts

    def test_runner_contexts_round_trip(self, harness: ConformanceHarness, app: Pynenc) -> None:
        backend = app.state_backend
        parent = harness.runner_context("parent")
        child = parent.new_child("ConformanceChild", f"conformance-child-{uuid.uuid4().hex}")
        backend.store_runner_context(child)
        backend._runner_contexts.clear()
        assert backend.get_runner_context(child.runner_id) == child
        assert backend.get_runner_context("conformance-unknown-runner") is None

    def test_runner_contexts_are_fetched_in_the_order_asked(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        backend = app.state_backend
        contexts = [harness.runner_context(f"r{i}") for i in range(3)]
        for ctx in contexts:
            backend.store_runner_context(ctx)
        backend._runner_contexts.clear()
        wanted = [contexts[2].runner_id, "conformance-unknown", contexts[0].runner_id]
        assert backend.get_runner_contexts(wanted) == [contexts[2], contexts[0]]

    def test_runner_contexts_are_found_by_partial_id(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        backend = app.state_backend
        tag = uuid.uuid4().hex[:10]
        alpha = [RunnerContext.current("ConformanceRunner", f"{tag}-alpha-{i}") for i in range(2)]
        beta = RunnerContext.current("ConformanceRunner", f"{tag}-beta-0")
        for ctx in [*alpha, beta]:
            backend.store_runner_context(ctx)
        found = backend.get_matching_runner_contexts(f"{tag}-alpha")
        assert sorted(c.runner_id for c in found) == sorted(c.runner_id for c in alpha)

    # ------------------------------------------------------------------ purge

    def test_purge_only_affects_its_own_app(self, harness: ConformanceHarness) -> None:
        mine, theirs = harness.new_app(), harness.new_app()
        (my_invocation,) = _stored_invocations(harness, mine, 1)
        (their_invocation,) = _stored_invocations(harness, theirs, 1)
        mine.state_backend.set_result(my_invocation.invocation_id, 1)
        theirs.state_backend.set_result(their_invocation.invocation_id, 2)

        mine.state_backend.purge()

        assert not mine.state_backend.invocation_exists(my_invocation.invocation_id)
        assert mine.state_backend._get_result(my_invocation.invocation_id) is None
        assert theirs.state_backend.invocation_exists(their_invocation.invocation_id)
        assert theirs.state_backend.get_result(their_invocation.invocation_id) == 2

    def test_apps_never_see_each_others_invocations(self, harness: ConformanceHarness) -> None:
        first, second = harness.new_app(), harness.new_app()
        (stored,) = _stored_invocations(harness, first, 1)
        assert not second.state_backend.invocation_exists(stored.invocation_id)
        with pytest.raises(InvocationNotFoundError):
            second.state_backend.get_invocation(stored.invocation_id)

    # ------------------------------------------------------------------ the back door

    def test_a_result_is_stored_serialized(self, harness: ConformanceHarness, app: Pynenc) -> None:
        backdoor = harness.backdoor("read_result")
        invocation_id = new_invocation_id()
        app.state_backend.set_result(invocation_id, [1, "two"])
        assert backdoor.read_result(app, invocation_id) == app.serializer.serialize([1, "two"])

    def test_a_late_write_leaves_no_result_in_the_store(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        backdoor = harness.backdoor("read_result")
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        for status in (S.PENDING, S.RUNNING):
            app.orchestrator.set_invocation_status(invocation_id, status, owner)
        app.orchestrator.set_invocation_status(
            invocation_id, S.RUNNING_RECOVERY, harness.runner_context("recoverer")
        )
        with pytest.raises(InvocationStatusError):
            app.orchestrator.set_invocation_result(invocation_id, 42, owner)
        assert backdoor.read_result(app, invocation_id) is None, (
            "a late write after losing ownership must store no result"
        )
