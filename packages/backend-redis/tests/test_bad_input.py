"""Bad input: a key of another type at one of pynenc's names, values too large for Redis, a
missing status. Each gets a clear error and nothing stored is lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.exceptions import RedisKeyTypeError, RedisValueTooLargeError
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.identifiers.invocation_id import new_invocation_id
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing import tasks
from pynenc.testing.harness import RunningRunner


@pytest.fixture
def app(redis_config: dict[str, Any]) -> Iterator[Pynenc]:
    app = Pynenc(
        app_id=f"bad-input-{uuid.uuid4().hex[:8]}",
        config_values={
            **redis_config,
            "logging_level": "critical",
            "redis_max_value_bytes": 2000,
            "min_size_to_cache": 0,
            "redis_retry_base_delay_sec": 0.001,
        },
    )
    yield app
    app.purge()


def test_a_key_of_another_type_at_one_of_pynencs_names_is_a_clear_error(
    app: Pynenc, redis_server: RedisServer
) -> None:
    redis_server.client().set(f"{key_prefix(app.app_id)}b:queues", "not a set")
    with pytest.raises(RedisKeyTypeError, match="another type") as info:
        app.get_task(tasks.add.task_id)(1, 2)
    assert key_prefix(app.app_id) in str(info.value)


def test_an_argument_too_large_is_refused_before_anything_is_stored(app: Pynenc) -> None:
    echo = app.get_task(tasks.echo.task_id)
    with pytest.raises(RedisValueTooLargeError, match="redis_max_value_bytes"):
        echo("x" * 5000)
    assert app.orchestrator.count_invocations() == {}
    assert app.broker.count_invocations() == 0


def test_a_result_too_large_fails_its_invocation_with_the_reason(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    from redis_test_tasks import repeat

    runner = RunningRunner(ThreadRunner(app)).start()
    try:
        invocation = app.get_task(repeat.task_id)("y", 5000)
        with pytest.raises(RedisValueTooLargeError, match="result"):
            invocation.wait(10)
        assert invocation.status == InvocationStatus.FAILED
    finally:
        runner.stop()


def test_an_exception_too_large_to_store_fails_its_invocation_with_the_reason(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    from redis_test_tasks import shout

    runner = RunningRunner(ThreadRunner(app)).start()
    try:
        invocation = app.get_task(shout.task_id)("z", 5000)
        with pytest.raises(RedisValueTooLargeError, match=r"exception of invocation .*ValueError"):
            invocation.wait(10)
        assert invocation.status == InvocationStatus.FAILED
    finally:
        runner.stop()


def test_a_missing_status_is_retried_redis_retry_max_attempts_times(
    redis_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Pynenc(
        app_id=f"missing-{uuid.uuid4().hex[:8]}",
        config_values={
            **redis_config,
            "redis_retry_max_attempts": 3,
            "redis_retry_base_delay_sec": 0.001,
        },
    )
    orchestrator = app.orchestrator
    invocation_id = new_invocation_id()
    reads: list[object] = []
    original = orchestrator._read_records  # type: ignore[attr-defined]

    def counting(ids: Any) -> Any:
        reads.append(ids)
        return original(ids)

    monkeypatch.setattr(orchestrator, "_read_records", counting)
    assert orchestrator.get_status_records([invocation_id]) == {}
    assert len(reads) == 4, "one read and redis_retry_max_attempts retries"


def test_a_status_found_by_a_retry_is_returned(
    redis_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Pynenc(
        app_id=f"late-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "redis_retry_base_delay_sec": 0.001},
    )
    invocation = app.get_task(tasks.add.task_id)(1, 2)
    orchestrator = app.orchestrator
    original = orchestrator._read_records  # type: ignore[attr-defined]
    misses = iter([True])

    def first_misses(ids: Any) -> Any:
        return {} if next(misses, False) else original(ids)

    monkeypatch.setattr(orchestrator, "_read_records", first_misses)
    record = orchestrator.get_invocation_status_record(invocation.invocation_id, use_cache=False)
    assert record.status == InvocationStatus.REGISTERED
    app.purge()


def test_a_server_older_than_redis_7_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.exceptions import ResponseError

    from pynenc.backends.redis import connection as redis_connection
    from pynenc.backends.redis.exceptions import RedisCommandError

    def old_server(connection: Any, *command: Any) -> Any:
        raise ResponseError(f"unknown command '{command[0]}', with args beginning with: ")

    monkeypatch.setattr(redis_connection, "_call_on", old_server)
    library = redis_connection.LuaLibrary()
    with pytest.raises(RedisCommandError, match=r"Redis >= 7\.0.*redis_url"):
        library.call(type("Client", (), {"connection": None})(), "count", [])
