"""Every statement the SQLite components run finds its rows through an index: none scans a
whole table, so cost stays flat however many invocations and apps the file holds."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus as S
from pynenc.orchestrator.atomic_service import AtomicServiceExecution
from pynenc.orchestrator.base_orchestrator import InvocationQuery
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing import tasks
from pynenc.trigger.base_trigger import EventRecord
from pynenc.util.sqlite import SQLiteDatabase
from pynenc.workflow.identity import WorkflowIdentity

from .conftest import AppFactory

FULL_SCANS_BY_DESIGN = {"SELECT app_id, info FROM pynenc_sb_app_info"}
"""App discovery lists every app of the file."""


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Every SQL statement (parameters expanded) run on connections opened during the test."""
    seen: set[str] = set()
    lock = threading.Lock()
    original = SQLiteDatabase._open

    def traced_open(self: SQLiteDatabase) -> sqlite3.Connection:
        conn = original(self)

        def record(sql: str) -> None:
            with lock:
                seen.add(sql)

        conn.set_trace_callback(record)
        return conn

    monkeypatch.setattr(SQLiteDatabase, "_open", traced_open)
    yield seen


def exercise_every_component(app: Pynenc) -> None:
    runner = ThreadRunner(app)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        add = app.get_task(tasks.add.task_id)
        invocations = [add(i, 1) for i in range(5)]
        assert [inv.wait(30) for inv in invocations] == [i + 1 for i in range(5)]
    finally:
        runner.stop_runner_loop()
        assert runner.wait_until_stopped(30)
    first = invocations[0].invocation_id
    now = app.clock.now()
    hour = timedelta(hours=1)
    orchestrator, backend, trigger = app.orchestrator, app.state_backend, app.trigger
    for query in (
        InvocationQuery(),
        InvocationQuery(limit=2, cursor="1"),
        InvocationQuery(task_ids=frozenset({tasks.add.task_id.key})),
        InvocationQuery(statuses=frozenset({S.SUCCESS})),
        InvocationQuery(statuses=frozenset({S.PENDING}), status_changed_before=now),
        InvocationQuery(registered_after=now - hour, registered_before=now + hour),
        InvocationQuery(owner_ids=frozenset({"someone"})),
        InvocationQuery(call_id="some-call"),
        InvocationQuery(running_key="some-key"),
        InvocationQuery(registration_key="k", statuses=frozenset({S.REGISTERED})),
    ):
        orchestrator.query_invocations(query)
    orchestrator.count_invocations()
    orchestrator.count_invocations(tasks.add.task_id.key)
    orchestrator.get_invocation_retries(first)
    orchestrator.waiting_for_results(first, [invocations[1].invocation_id])
    orchestrator.get_blocking_invocations(5)
    orchestrator._get_waiting_for(first)
    orchestrator.release_waiter(first)
    orchestrator.register_runner_heartbeats(["runner-a"], can_run_atomic_service=True)
    orchestrator.get_active_runners()
    execution = AtomicServiceExecution.from_raw("runner-a", "run-1", now, now)
    orchestrator.finalize_atomic_service_execution(execution)
    orchestrator.get_atomic_service_executions()
    orchestrator.unregister_runners(["runner-a"])
    backend.find_invocation_ids_by_prefix(first[:7])
    list(backend.get_child_invocations(first))
    backend.get_history(first)
    list(backend.iter_history_in_timerange(now - hour, now + hour, 2))
    backend.get_runner_contexts(["a", "b"])
    list(backend.get_matching_runner_contexts("Thread"))
    workflow = WorkflowIdentity(first, tasks.add.task_id)
    backend.store_workflow_run(workflow)
    backend.set_workflow_data(workflow, "k", 1)
    backend.get_workflow_data(workflow, "k")
    backend.store_workflow_sub_invocation(first, invocations[1].invocation_id)
    list(backend.get_workflow_runs(tasks.add.task_id))
    list(backend.get_all_workflow_runs())
    list(backend.get_workflow_sub_invocations(first))
    backend.discover_app_infos()
    trigger._store_condition("c", "{}")
    trigger._get_all_conditions()
    trigger._store_trigger("t", "{}", ["c"])
    trigger._get_trigger_ids_for_condition("c")
    trigger._add_valid_conditions([("v", "c", "{}")])
    trigger._get_valid_conditions(5)
    trigger._remove_valid_conditions(["v"])
    trigger.claim_cron_tick("c", now)
    trigger.claim_cron_tick("c", now + hour)
    trigger.claim_trigger_run("run", "t")
    trigger._record_trigger_run_invocations("run", [first])
    trigger._get_trigger_run("run")
    trigger._store_event(EventRecord("e", "code", "{}", now))
    trigger._get_event("e")
    trigger.purge_old_records()
    trigger._remove_trigger("t")
    app.client_data_store._retrieve("missing")
    orchestrator.purge_final_invocations(now + hour)
    app.purge()


def full_scans(db_path: Path, statements: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with closing(sqlite3.connect(db_path)) as conn:
        for sql in statements:
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT)", sql):
                continue
            if any(sql.startswith(allowed) for allowed in FULL_SCANS_BY_DESIGN):
                continue
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            scans = [step for step in plan if re.match(r"SCAN pynenc_", step)]
            if scans:
                found[sql] = scans
    return found


def test_no_statement_scans_a_whole_table(
    make_app: AppFactory, db_path: Path, statements: set[str]
) -> None:
    exercise_every_component(make_app())
    assert len(statements) > 50
    assert full_scans(db_path, statements) == {}
