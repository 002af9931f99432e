"""Waiting without fixed sleeps: waiters wake on this process's own writes at once, on delayed
work when it falls due, and idle polling neither writes nor re-reads an unchanged file."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from pynenc.broker import sqlite_broker
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.orchestrator import sqlite_orchestrator
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.util.waiting import AdaptiveBackoff

from .conftest import AppFactory

LONG_WAIT = 30.0
"""Longer than any wake-up may take: a waiter still asleep this long was not woken."""


class _SleepyBackoff(AdaptiveBackoff):
    """A backoff whose every delay is longer than the test waits: only a wake-up ends it."""

    def next_delay(self) -> float:
        return LONG_WAIT * 2


@pytest.fixture
def no_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_broker, "AdaptiveBackoff", _SleepyBackoff)
    monkeypatch.setattr(sqlite_orchestrator, "AdaptiveBackoff", _SleepyBackoff)


def in_thread(action: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(action()), daemon=True)
    thread.start()
    return thread, outcome


def new_id() -> InvocationId:
    return InvocationId(uuid.uuid4().hex)


def test_a_waiting_retrieval_wakes_when_this_process_routes_work(
    make_app: AppFactory, no_polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    checked = threading.Event()
    peek = app.broker._peek  # type: ignore[attr-defined]

    def counting_peek(*args: Any) -> Any:
        result = peek(*args)
        checked.set()
        return result

    monkeypatch.setattr(app.broker, "_peek", counting_peek)
    waiter, outcome = in_thread(lambda: app.broker.retrieve_invocations(1, timeout=LONG_WAIT))
    assert checked.wait(10)
    invocation_id = new_id()
    app.broker.route_invocation(invocation_id)
    waiter.join(LONG_WAIT / 2)
    assert outcome == [[invocation_id]]


def test_a_result_waiter_wakes_when_this_process_stores_the_result(
    make_app: AppFactory, no_polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    invocation = app.get_task(tasks.add.task_id)(1, 2)
    inv_id = invocation.invocation_id
    ctx = RunnerContext.current("WaitingTestRunner", "waiting-test")
    app.orchestrator.set_invocation_status(inv_id, InvocationStatus.PENDING, ctx)
    app.orchestrator.set_invocation_run(inv_id, ctx)
    checked = threading.Event()
    get_final_records = app.orchestrator.get_final_records

    def checking(ids: Sequence[InvocationId]) -> dict[InvocationId, InvocationStatusRecord]:
        finals = get_final_records(ids)
        checked.set()
        return finals

    monkeypatch.setattr(app.orchestrator, "get_final_records", checking)
    waiter, outcome = in_thread(lambda: app.orchestrator.wait_for_final([inv_id], LONG_WAIT))
    assert checked.wait(10)
    app.orchestrator.set_invocation_result(inv_id, 3, ctx)
    waiter.join(LONG_WAIT / 2)
    assert outcome and outcome[0][inv_id].status == InvocationStatus.SUCCESS


def test_a_waiting_retrieval_wakes_when_a_delayed_invocation_falls_due(
    make_app: AppFactory, no_polling: None
) -> None:
    app = make_app()
    invocation_id = new_id()
    app.broker.route_invocation(invocation_id, not_before=app.clock.time() + 0.2)
    started = time.monotonic()
    assert app.broker.retrieve_invocations(1, timeout=LONG_WAIT) == [invocation_id]
    assert time.monotonic() - started < LONG_WAIT / 2


def test_an_idle_retrieval_never_takes_the_write_lock(make_app: AppFactory, db_path: Path) -> None:
    app = make_app(sqlite_busy_timeout_seconds=0.05)
    app.broker.count_invocations()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        assert app.broker.retrieve_invocations(1, timeout=0.2) == []
        holder.execute("ROLLBACK")


def test_polling_an_unchanged_file_does_not_query_the_queue_again(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(sqlite_poll_max_seconds=0.001)
    peeks: list[float] = []
    peek = app.broker._peek  # type: ignore[attr-defined]

    def counting_peek(*args: Any) -> Any:
        peeks.append(time.monotonic())
        return peek(*args)

    monkeypatch.setattr(app.broker, "_peek", counting_peek)
    assert app.broker.retrieve_invocations(1, timeout=0.2) == []
    assert len(peeks) == 1
