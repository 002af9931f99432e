"""A step whose reply is lost (the connection breaks after the server ran it) is repeated, and
the repeat reports what the first attempt did: nothing claimed is left behind, nothing is
applied twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pynenc import Pynenc
from pynenc.backends.redis import connection as redis_connection
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks

S = InvocationStatus


@pytest.fixture
def app(redis_config: dict[str, Any]) -> Iterator[Pynenc]:
    app = Pynenc(
        app_id=f"lost-replies-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "logging_level": "warning"},
    )
    yield app
    app.purge()


def _lose_reply_of(monkeypatch: pytest.MonkeyPatch, script: str) -> list[int]:
    """The next call of the Lua script ``script`` runs on the server, but its reply is lost."""
    function = redis_connection.script(script).function
    call_on = redis_connection._call_on
    lost: list[int] = []

    def losing(connection: Any, *command: Any) -> Any:
        reply = call_on(connection, *command)
        if command[:2] == ("FCALL", function) and not lost:
            lost.append(1)
            connection.disconnect()
            raise redis.ConnectionError("reply lost")
        return reply

    monkeypatch.setattr(redis_connection, "_call_on", losing)
    return lost


def _owner(app: Pynenc, invocation_id: str) -> tuple[S, str | None]:
    record = app.orchestrator.get_invocation_status_record(invocation_id, use_cache=False)  # type: ignore[arg-type]
    return record.status, record.owner_id


def test_a_claim_round_whose_reply_was_lost_returns_its_claims_when_repeated(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = RunnerContext.current("LostReplies", f"runner-{uuid.uuid4().hex}")
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    lost = _lose_reply_of(monkeypatch, "claim_round")

    fetched = app.orchestrator.get_invocations_to_run(1, runner, timeout=1.0, start=True)

    assert lost, "the first attempt's reply was lost"
    assert [inv.invocation_id for inv in fetched] == [invocation_id]
    assert _owner(app, invocation_id) == (S.RUNNING, runner.runner_id)
    statuses = [h.status_record.status for h in app.state_backend.get_history(invocation_id)]
    assert statuses == [S.REGISTERED, S.PENDING, S.RUNNING], "claimed once"


def test_a_final_move_whose_reply_was_lost_reports_the_next_claim_when_repeated(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = RunnerContext.current("LostReplies", f"runner-{uuid.uuid4().hex}")
    add = app.get_task(tasks.add.task_id)
    first = add(1, 2).invocation_id
    app.orchestrator.get_invocations_to_run(1, runner, timeout=1.0, start=True)
    second = add(3, 4).invocation_id
    lost = _lose_reply_of(monkeypatch, "finish_claim")

    following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1)

    assert lost, "the first attempt's reply was lost"
    assert app.state_backend.get_result(first) == 3
    assert [inv.invocation_id for inv in following] == [second]
    assert _owner(app, second) == (S.RUNNING, runner.runner_id)
    statuses = [h.status_record.status for h in app.state_backend.get_history(first)]
    assert statuses.count(S.SUCCESS) == 1, "the final move applied once"


def test_a_claim_round_after_a_wake_up_whose_reply_was_lost_returns_its_claims_when_repeated(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round a wake-up runs in the same round trip: the call registered while the runner
    waited is claimed by the first attempt, whose reply is lost; the repeat returns it."""
    runner = RunnerContext.current("LostReplies", f"runner-{uuid.uuid4().hex}")
    add = app.get_task(tasks.add.task_id)
    assert app.orchestrator.get_invocations_to_run(1, runner, timeout=0.0, start=True) == []
    call_pipelined_on = redis_connection._call_pipelined_on
    registered: list[str] = []
    lost: list[int] = []

    def losing(connection: Any, *commands: Any) -> Any:
        if lost:
            return call_pipelined_on(connection, *commands)
        # the call arrives while the runner waits: its wake-up token ends the wait
        registered.append(add(1, 2).invocation_id)
        call_pipelined_on(connection, *commands)
        lost.append(1)
        connection.disconnect()
        raise redis.ConnectionError("reply lost")

    monkeypatch.setattr(redis_connection, "_call_pipelined_on", losing)

    fetched = app.orchestrator.get_invocations_to_run(1, runner, timeout=2.0, start=True)

    assert lost == [1], "the wait and the round were sent together once, and their reply lost"
    assert [inv.invocation_id for inv in fetched] == registered
    assert _owner(app, registered[0]) == (S.RUNNING, runner.runner_id)
    statuses = [h.status_record.status for h in app.state_backend.get_history(registered[0])]
    assert statuses == [S.REGISTERED, S.PENDING, S.RUNNING], "claimed once"
