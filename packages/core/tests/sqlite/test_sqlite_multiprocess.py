"""Processes sharing one SQLite file: claims are exclusive, deliveries happen once, results are
seen across processes. Children are forked, so they also exercise the re-open after fork."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.synchronize import Event
from typing import Any

from pynenc import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks

from .conftest import AppFactory

PROCESSES = 4
INVOCATIONS = 60
WAIT_SECONDS = 60

_fork = multiprocessing.get_context("fork")


def register(app: Pynenc, count: int) -> list[InvocationId]:
    group = app.get_task(tasks.add.task_id).parallelize([(i, 1) for i in range(count)])
    return [inv.invocation_id for inv in group.invocations]


def run_children(target: Any, *args: Any) -> list[Any]:
    """Start PROCESSES forked children released together; return what each put on the queue."""
    start = _fork.Event()
    results: multiprocessing.Queue[Any] = _fork.Queue()
    children = [
        _fork.Process(target=target, args=(index, start, results, *args))
        for index in range(PROCESSES)
    ]
    for child in children:
        child.start()
    start.set()
    collected = [results.get(timeout=WAIT_SECONDS) for _ in children]
    for child in children:
        child.join(WAIT_SECONDS)
        assert child.exitcode == 0
    errors = [c for c in collected if isinstance(c, str)]
    assert not errors, errors
    return collected


def claim_all(
    index: int,
    start: Event,
    results: multiprocessing.Queue[Any],
    app: Pynenc,
    invocation_ids: list[InvocationId],
) -> None:
    try:
        ctx = RunnerContext.current("RacingRunner", f"racer-{index}")
        start.wait(WAIT_SECONDS)
        claimed = [
            inv_id
            for inv_id in invocation_ids
            if app.orchestrator.try_set_invocation_status(inv_id, InvocationStatus.PENDING, ctx)
        ]
        results.put((ctx.runner_id, claimed))
    except BaseException as exc:
        results.put(repr(exc))


def test_racing_processes_claim_each_invocation_exactly_once(make_app: AppFactory) -> None:
    app = make_app()
    invocation_ids = register(app, INVOCATIONS)
    outcomes = run_children(claim_all, app, invocation_ids)
    claims = Counter(inv_id for _, claimed in outcomes for inv_id in claimed)
    assert sorted(claims) == sorted(invocation_ids)
    assert set(claims.values()) == {1}
    records = app.orchestrator.get_status_records(invocation_ids)
    for runner_id, claimed in outcomes:
        for inv_id in claimed:
            assert records[inv_id].status == InvocationStatus.PENDING
            assert records[inv_id].runner_id == runner_id


def drain_queue(index: int, start: Event, results: multiprocessing.Queue[Any], app: Pynenc) -> None:
    try:
        start.wait(WAIT_SECONDS)
        received: list[InvocationId] = []
        while batch := app.broker.retrieve_invocations(3, timeout=0):
            received.extend(batch)
        results.put(received)
    except BaseException as exc:
        results.put(repr(exc))


def test_racing_processes_receive_each_queued_invocation_exactly_once(
    make_app: AppFactory,
) -> None:
    app = make_app()
    invocation_ids = register(app, INVOCATIONS)
    received = Counter(inv_id for batch in run_children(drain_queue, app) for inv_id in batch)
    assert sorted(received) == sorted(invocation_ids)
    assert set(received.values()) == {1}
    assert app.broker.count_invocations() == 0


def finish_when_told(
    go: Event, done: multiprocessing.Queue[str], app: Pynenc, inv_id: InvocationId
) -> None:
    try:
        ctx = RunnerContext.current("OtherProcessRunner", "other-process")
        go.wait(WAIT_SECONDS)
        app.orchestrator.set_invocation_status(inv_id, InvocationStatus.PENDING, ctx)
        app.orchestrator.set_invocation_run(inv_id, ctx)
        app.orchestrator.set_invocation_result(inv_id, 42, ctx)
        done.put("ok")
    except BaseException as exc:
        done.put(repr(exc))


def test_a_result_waiter_sees_a_result_stored_by_another_process(make_app: AppFactory) -> None:
    app = make_app()
    (inv_id,) = register(app, 1)
    go = _fork.Event()
    done: multiprocessing.Queue[str] = _fork.Queue()
    child = _fork.Process(target=finish_when_told, args=(go, done, app, inv_id))
    child.start()
    go.set()
    finals = app.orchestrator.wait_for_final([inv_id], timeout=WAIT_SECONDS)
    assert done.get(timeout=WAIT_SECONDS) == "ok"
    child.join(WAIT_SECONDS)
    assert finals[inv_id].status == InvocationStatus.SUCCESS
    assert finals[inv_id].runner_id == "other-process"
    assert app.state_backend.get_result(inv_id) == 42
