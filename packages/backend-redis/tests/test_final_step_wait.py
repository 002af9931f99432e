"""A runner thread that found nothing more due sends its next final step, the wait for work and
the round after the wait in one round trip (finish_claim.lua): it gets the next call as soon as
it is registered, the wait is skipped when the step itself took work or did not apply, and a
lost reply is repeated without claiming or finishing anything twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pynenc import Pynenc
from pynenc.backends.redis import connection as redis_connection
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.exceptions import InvocationStatusError
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.testing.harness import wait_until

S = InvocationStatus
WAIT = 5.0
"""The wait each final step may take: the tests that must not wait finish far sooner."""


@pytest.fixture
def app(redis_config: dict[str, Any]) -> Iterator[Pynenc]:
    app = Pynenc(
        app_id=f"final-wait-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "logging_level": "warning"},
    )
    yield app
    app.purge()


def _runner() -> RunnerContext:
    return RunnerContext.current("FinalWait", f"runner-{uuid.uuid4().hex}")


def _running_alone(app: Pynenc, runner: RunnerContext) -> str:
    """A call claimed and started by ``runner``, whose round took the last due message."""
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    fetched = app.orchestrator.get_invocations_to_run(8, runner, timeout=1.0, start=True)
    assert [i.invocation_id for i in fetched] == [invocation_id]
    # the wake-up token of that call is still there (the round took it without waiting)
    assert app.orchestrator.get_invocations_to_run(8, runner, timeout=0.05, start=True) == []
    return invocation_id


def _without_wake_up_tokens(app: Pynenc, redis_server: RedisServer) -> None:
    """Drop the wake-up tokens of the calls just registered: a wait ends only by itself."""
    client = redis_server.client()
    client.delete(*client.keys(f"{key_prefix(app.app_id)}b:bell*"))


def _history(app: Pynenc, invocation_id: str) -> list[S]:
    return [h.status_record.status for h in app.state_backend.get_history(invocation_id)]  # type: ignore[arg-type]


def _pipelines(monkeypatch: pytest.MonkeyPatch, on_send: Any = None) -> list[int]:
    """Count the pipelined sends; ``on_send`` runs just before each (the server then waits)."""
    sent: list[int] = []
    call_pipelined_on = redis_connection._call_pipelined_on

    def counting(connection: Any, *commands: Any) -> Any:
        sent.append(len(commands))
        if on_send is not None:
            on_send(len(sent))
        return call_pipelined_on(connection, *commands)

    monkeypatch.setattr(redis_connection, "_call_pipelined_on", counting)
    return sent


def test_the_next_call_comes_with_the_final_step_that_waited_for_it(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    runner = _runner()
    first = _running_alone(app, runner)
    registered: list[str] = []
    registering: list[threading.Thread] = []
    client = redis_server.client()

    def register_later(_: int) -> None:
        def register() -> None:  # once the step waits on the server
            wait_until(
                lambda: any(c["cmd"] == "blpop" for c in client.client_list()),
                "the final step waits for work",
            )
            registered.append(app.get_task(tasks.add.task_id)(3, 4).invocation_id)

        registering.append(threading.Thread(target=register, daemon=True))
        registering[0].start()

    sent = _pipelines(monkeypatch, register_later)
    following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1, wait=WAIT)
    registering[0].join(WAIT)

    assert sent == [3], "the final step, the wait and the round went in one round trip"
    assert [i.invocation_id for i in following] == registered
    assert app.state_backend.get_result(first) == 3
    assert _history(app, registered[0]) == [S.REGISTERED, S.PENDING, S.RUNNING]


def test_the_final_step_is_recorded_and_notified_before_the_wait(
    app: Pynenc, redis_server: RedisServer
) -> None:
    runner = _runner()
    claimed: list[str] = []
    following: list[Any] = []
    ready = threading.Event()

    def run_and_finish() -> None:  # one runner thread: its last round left nothing due
        claimed.append(_running_alone(app, runner))
        _without_wake_up_tokens(app, redis_server)
        ready.set()
        following.extend(
            app.orchestrator.set_result_and_claim_next(claimed[0], 3, runner, 1, wait=WAIT)
        )

    finishing = threading.Thread(target=run_and_finish, daemon=True)
    finishing.start()
    assert ready.wait(WAIT)
    first = claimed[0]

    finals = app.orchestrator.wait_for_final([first], WAIT / 2)

    assert finals[first].status == S.SUCCESS, "notified while the step still waits"
    assert finishing.is_alive(), "the step is still waiting for the next call"
    nxt = app.get_task(tasks.add.task_id)(3, 4).invocation_id
    finishing.join(WAIT)
    assert [i.invocation_id for i in following] == [nxt]


@pytest.mark.parametrize("queued_calls", [1, 2])
def test_a_final_step_that_takes_the_next_call_itself_does_not_wait(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, queued_calls: int
) -> None:
    """With one call queued, the step's own token ends the wait; with two, the guard keeps
    the round after the wait from claiming the second (one call for the one slot)."""
    runner = _runner()
    first = _running_alone(app, runner)
    add = app.get_task(tasks.add.task_id)
    queued = [add(i, i).invocation_id for i in range(queued_calls)]
    _without_wake_up_tokens(app, redis_server)
    sent = _pipelines(monkeypatch)

    started = time.monotonic()
    following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1, wait=WAIT)

    assert time.monotonic() - started < WAIT / 2, "the wait ended at once"
    assert sent == [3]
    assert [i.invocation_id for i in following] == queued[:1]
    for left in queued[1:]:
        assert app.orchestrator.get_invocation_status(left, use_cache=False) == S.REGISTERED


def test_a_refused_final_step_neither_waits_nor_claims(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    runner, other = _runner(), _runner()
    assert app.orchestrator.get_invocations_to_run(8, runner, timeout=0.0, start=True) == []
    foreign = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    assert app.orchestrator.get_invocations_to_run(8, other, timeout=1.0, start=True)
    queued = app.get_task(tasks.add.task_id)(3, 4).invocation_id
    _without_wake_up_tokens(app, redis_server)
    sent = _pipelines(monkeypatch)

    started = time.monotonic()
    with pytest.raises(InvocationStatusError):
        app.orchestrator.set_result_and_claim_next(foreign, 3, runner, 1, wait=WAIT)

    assert time.monotonic() - started < WAIT / 2, "the wait ended at once"
    assert sent == [3]
    assert app.orchestrator.get_invocation_status(queued, use_cache=False) == S.REGISTERED
    assert app.orchestrator.get_invocation_status(foreign, use_cache=False) == S.RUNNING


def test_a_final_step_and_wait_whose_reply_was_lost_is_repeated_without_loss(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _runner()
    first = _running_alone(app, runner)
    call_pipelined_on = redis_connection._call_pipelined_on
    registered: list[str] = []
    lost: list[int] = []

    def losing(connection: Any, *commands: Any) -> Any:
        if lost:
            return call_pipelined_on(connection, *commands)
        # the call arrives while the step waits: its wake-up token ends the wait, the round
        # after it claims the call, and the reply of all three is lost
        registered.append(app.get_task(tasks.add.task_id)(3, 4).invocation_id)
        call_pipelined_on(connection, *commands)
        lost.append(1)
        connection.disconnect()
        raise redis.ConnectionError("reply lost")

    monkeypatch.setattr(redis_connection, "_call_pipelined_on", losing)
    following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1, wait=WAIT)

    assert lost == [1]
    assert [i.invocation_id for i in following] == registered, "the repeat returns the claim"
    assert _history(app, first).count(S.SUCCESS) == 1, "the final move applied once"
    assert _history(app, registered[0]) == [S.REGISTERED, S.PENDING, S.RUNNING], "claimed once"


def test_a_thread_that_took_more_than_the_last_due_call_does_not_wait(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a thread whose last round left nothing due waits with its final step."""
    runner = _runner()
    add = app.get_task(tasks.add.task_id)
    first, _ = add(1, 2).invocation_id, add(3, 4).invocation_id
    fetched = app.orchestrator.get_invocations_to_run(1, runner, timeout=1.0, start=True)
    assert [i.invocation_id for i in fetched] == [first]
    sent = _pipelines(monkeypatch)

    following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1, wait=WAIT)

    assert sent == [], "a plain final step with its claim"
    assert len(following) == 1
