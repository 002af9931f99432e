"""The trigger hooks on the invocation hot path cost nothing when no trigger listens, and the
runner warns at start about triggers that cannot fire."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from unittest import mock

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.util.clock import FakeClock

from . import trigger_declarations as decl

MEM_STACK: dict[str, Any] = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
}
MODULE = decl.__name__
WATCHED = decl.watched.task_id.key


def mem_app(**config: Any) -> Pynenc:
    app = Pynenc(config_values={**MEM_STACK, "app_id": f"hooks-{uuid.uuid4().hex[:8]}", **config})
    app.clock = FakeClock()
    return app


def run_to_success(app: Pynenc, invocation_id: str) -> None:
    ctx = RunnerContext.current("Test", "test-runner")
    app.orchestrator.set_invocation_status(invocation_id, InvocationStatus.PENDING, ctx)
    app.orchestrator.set_invocation_run(invocation_id, ctx)
    app.orchestrator.set_invocation_result(invocation_id, 1, ctx)


def test_status_changes_read_nothing_when_no_trigger_listens_to_any_task() -> None:
    app = mem_app()
    invocation = app.get_task(decl.watched.task_id)(1)
    with mock.patch.object(type(app.state_backend), "_get_invocation", autospec=True) as lookup:
        run_to_success(app, invocation.invocation_id)
    assert lookup.call_count == 0, "the hot path must not look up the task of the invocation"
    assert app.trigger._get_valid_conditions(10) == []


def test_a_watched_task_records_its_status_for_the_trigger_loop() -> None:
    app = mem_app(trigger_task_modules=[MODULE])
    app.trigger.register_task_triggers()
    invocation = app.get_task(decl.watched.task_id)(1)
    run_to_success(app, invocation.invocation_id)
    [(_, _, value)] = app.trigger._get_valid_conditions(10)
    assert '"status":"SUCCESS"' in value


def test_triggers_registered_by_another_process_are_seen_after_the_refresh_interval() -> None:
    """Another process stores its conditions through the same primitive used here."""
    app = mem_app(trigger_index_refresh_seconds=5.0)
    assert not app.trigger.source_index().watched_tasks
    app.trigger._store_condition(
        "status:x",
        json.dumps({"kind": "status", "source": WATCHED, "statuses": ["SUCCESS"]}),
    )
    assert not app.trigger.source_index().watched_tasks, "the index is reused until it expires"
    assert isinstance(app.clock, FakeClock)
    app.clock.advance(5.0)
    assert app.trigger.source_index().watched_tasks == {decl.watched.task_id.key}


def test_a_trigger_task_outside_trigger_task_modules_is_warned_about_at_start() -> None:
    app = mem_app()
    app.get_task(decl.after_watched.task_id)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    app.logger.addHandler(handler)
    try:
        ThreadRunner(app).init_trigger_tasks_modules()
    finally:
        app.logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any(
        decl.after_watched.task_id.key in message
        and "not in trigger_task_modules" in message
        and "will not fire" in message
        for message in warnings
    ), warnings
    assert app.trigger.definitions() == {}, "its triggers are not registered"


def test_a_runner_registers_the_triggers_of_its_trigger_task_modules_at_start() -> None:
    app = mem_app(trigger_task_modules=[MODULE])
    ThreadRunner(app).init_trigger_tasks_modules()
    stored = app.trigger._get_all_conditions()
    assert {c for d in app.trigger.definitions().values() for c in d.condition_ids} <= set(stored)
    assert app.trigger.source_index().watched_tasks == {decl.watched.task_id.key}
