"""Waiting without polling: result waiters are woken by the final step's notification and read
the stored state again after the listener reconnects; a runner waiting for work wakes when the
earliest delayed message falls due."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.testing import RedisServer
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord, transition_rule
from pynenc.runner.runner_context import RunnerContext
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.testing import tasks
from pynenc.testing.harness import wait_until

S = InvocationStatus


@pytest.fixture
def app(redis_config: dict[str, Any]) -> Iterator[Pynenc]:
    app = Pynenc(
        app_id=f"waiting-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "logging_level": "warning", "wait_poll_max_seconds": 30},
    )
    yield app
    app.purge()


def _running(app: Pynenc, ctx: RunnerContext) -> InvocationId:
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    for status in (S.PENDING, S.RUNNING):
        app.orchestrator.set_invocation_status(invocation_id, status, ctx)
    return invocation_id


def _wait_in_thread(
    app: Pynenc, invocation_id: InvocationId, found: dict[InvocationId, Any]
) -> threading.Event:
    woke = threading.Event()

    def wait() -> None:
        found.update(app.orchestrator.wait_for_final([invocation_id], timeout=20.0))
        woke.set()

    threading.Thread(target=wait, daemon=True).start()
    return woke


def test_a_waiter_reads_the_stored_state_again_after_the_listener_reconnects(
    app: Pynenc, redis_server: RedisServer
) -> None:
    ctx = RunnerContext.current("WaitTest", f"wait-{uuid.uuid4().hex}")
    invocation_id = _running(app, ctx)
    found: dict[InvocationId, Any] = {}
    woke = _wait_in_thread(app, invocation_id, found)
    orchestrator: Any = app.orchestrator
    assert not woke.wait(0.2), "nothing is final yet"
    # the final move happens while the notification is lost (no publish), as during an outage
    record = InvocationStatusRecord(S.SUCCESS, ctx.runner_id, app.clock.now())
    history = InvocationHistory(invocation_id, record, ctx.runner_id, None, record.timestamp)
    orchestrator._transition(
        [invocation_id], transition_rule(S.SUCCESS), record, histories={invocation_id: history}
    )
    assert not woke.wait(0.3), "without a notification the waiter does not poll"
    redis_server.client().client_kill_filter(_type="pubsub")
    assert woke.wait(5.0), "after a reconnection the waiter reads the stored state"
    assert found[invocation_id].status == S.SUCCESS


def test_a_notified_result_is_read_without_a_round_trip(app: Pynenc) -> None:
    ctx = RunnerContext.current("WaitTest", f"wait-{uuid.uuid4().hex}")
    invocation_id = _running(app, ctx)
    orchestrator: Any = app.orchestrator
    assert orchestrator.watch_finals(5.0), "the process listens to the app's notifications"
    app.orchestrator.set_invocation_result(invocation_id, 3, ctx)
    wait_until(
        lambda: orchestrator._finals.recent.get(invocation_id) is not None,
        "the final step's notification arrives",
    )
    clients: Any = app.state_backend.store.connection.clients  # type: ignore[attr-defined]
    acquire = clients.acquire
    test_thread = threading.current_thread()

    def refuse_here() -> Any:
        if threading.current_thread() is test_thread:
            raise AssertionError("a command was sent")
        return acquire()

    clients.acquire = refuse_here
    try:
        assert app.state_backend.get_result(invocation_id) == 3
    finally:
        del clients.acquire


def test_a_runner_waiting_for_work_wakes_when_a_delayed_message_falls_due(app: Pynenc) -> None:
    invocation_id = InvocationId(uuid.uuid4().hex)
    due_in = 0.3
    app.broker.route_invocation(invocation_id, not_before=app.clock.time() + due_in)
    started = time.monotonic()
    assert app.broker.retrieve_invocations(1, timeout=10.0) == [invocation_id]
    waited = time.monotonic() - started
    assert due_in - 0.05 <= waited < due_in + 1.0, f"woke after {waited:.2f}s"


def test_a_thread_that_starts_waiting_ends_the_listeners_pause(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While no thread waits, the listener lets notifications gather (here for up to a
    minute, from the subscription on); a thread that starts waiting is woken by its
    notification at once."""
    from pynenc.backends.redis import listener

    monkeypatch.setattr(listener, "GATHER_SECONDS", 60.0)
    ctx = RunnerContext.current("WaitTest", f"wait-{uuid.uuid4().hex}")
    assert app.orchestrator.watch_finals(5.0)
    finals = listener.finals_for(app.orchestrator.store.connection, app.orchestrator.store.prefix)
    running = _running(app, ctx)
    found: dict[InvocationId, Any] = {}
    woke = _wait_in_thread(app, running, found)
    wait_until(lambda: finals.waiting, "the waiter is registered")
    app.orchestrator.set_invocation_result(running, 3, ctx)
    assert woke.wait(10.0), "the waiter must be woken without waiting out the pause"
    assert found[running].status == S.SUCCESS
    # end the pause this test may have left the shared listener in, with the usual length
    monkeypatch.undo()
    finals.remove(finals.add([InvocationId("end-the-pause")]))


def test_notifications_nobody_waits_on_are_read_in_bursts(app: Pynenc) -> None:
    from pynenc.backends.redis import listener

    ctx = RunnerContext.current("WaitTest", f"wait-{uuid.uuid4().hex}")
    assert app.orchestrator.watch_finals(5.0)
    finals = listener.finals_for(app.orchestrator.store.connection, app.orchestrator.store.prefix)
    ids = [_running(app, ctx) for _ in range(20)]
    for invocation_id in ids:
        app.orchestrator.set_invocation_result(invocation_id, 3, ctx)
    wait_until(lambda: finals.notified >= 20, "every notification is read")
    assert set(finals.recent_records(ids)) == set(ids)
