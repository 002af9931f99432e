"""The connection policy: clients give up with a clear error after ``redis_retry_*``; runners
keep reconnecting with capped backoff for as long as they run, logging the outage once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from pynenc import Pynenc
from pynenc.backends.redis.exceptions import RedisAuthenticationError, RedisUnavailableError
from pynenc.backends.redis.store import RedisStore
from pynenc.backends.redis.testing import RedisServer, free_port
from pynenc.invocation import context
from pynenc.runner.runner_context import RunnerContext

from .conftest import COMPONENTS, LogRecords, require_redis_server

SECRET = "pa55-w0rd"


def _app(**values: Any) -> Pynenc:
    return Pynenc(
        app_id=f"policy-{uuid.uuid4().hex[:8]}",
        config_values={**COMPONENTS, "logging_level": "info", **values},
    )


class _Runner:
    """Stands for a running runner (the policy only asks whether it runs)."""

    def __init__(self) -> None:
        self.running = True
        self.runner_context = RunnerContext.current("PolicyRunner", "policy-runner")


class _FlakyServer:
    """An operation that fails with a lost connection ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, client: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise redis.ConnectionError("Connection refused")
        return "answer"


def _store(app: Pynenc) -> RedisStore:
    store: RedisStore = app.orchestrator.store  # type: ignore[attr-defined]
    return store


def test_a_client_fails_with_a_clear_error_when_redis_is_unreachable() -> None:
    app = _app(
        redis_url=f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0",
        redis_retry_max_attempts=2,
        redis_retry_base_delay_sec=0.001,
    )
    with pytest.raises(RedisUnavailableError, match="after 2 retries") as info:
        app.orchestrator.count_invocations()
    assert "127.0.0.1" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_client_reconnects_once_then_retries_redis_retry_max_attempts_times(
    redis_config: dict[str, Any],
) -> None:
    app = _app(
        redis_url=redis_config["redis_url"],
        redis_retry_max_attempts=4,
        redis_retry_base_delay_sec=0.001,
    )
    assert _store(app).run(_FlakyServer(failures=1 + 4)) == "answer"
    with pytest.raises(RedisUnavailableError):
        _store(app).run(_FlakyServer(failures=1 + 5))


def test_a_connection_the_server_closed_is_replaced_without_reporting_an_outage(
    redis_config: dict[str, Any],
) -> None:
    app = _app(redis_url=redis_config["redis_url"], redis_retry_max_attempts=0)
    store = _store(app)
    store.connection.outage_started = None
    records = LogRecords()
    store.logger.addHandler(records)
    try:
        assert store.run(_FlakyServer(failures=1)) == "answer"
    finally:
        store.logger.removeHandler(records)
    assert records.messages == []


def test_a_runner_keeps_retrying_past_the_client_limit_and_logs_the_outage_once(
    redis_config: dict[str, Any],
) -> None:
    app = _app(
        redis_url=redis_config["redis_url"],
        redis_retry_max_attempts=1,
        redis_reconnect_base_delay_seconds=0.001,
        redis_reconnect_max_delay_seconds=0.002,
    )
    store = _store(app)
    store.connection.outage_started = None  # earlier tests fake outages on this connection
    records = LogRecords()
    store.logger.addHandler(records)
    runner = _Runner()
    token = context.current_runner.set(runner)  # type: ignore[arg-type]
    try:
        store.note_runner()
        flaky = _FlakyServer(failures=20)
        assert store.run(flaky) == "answer"
    finally:
        context.current_runner.reset(token)
        runner.running = False
        store.logger.removeHandler(records)
    assert flaky.calls == 21
    messages = records.messages
    assert sum("is unreachable" in m for m in messages) == 1, "one WARNING per outage"
    assert sum("is reachable again" in m for m in messages) == 1, "one INFO on recovery"


def test_once_the_runner_stops_its_operations_give_up_like_a_clients(
    redis_config: dict[str, Any],
) -> None:
    app = _app(
        redis_url=redis_config["redis_url"],
        redis_retry_max_attempts=1,
        redis_retry_base_delay_sec=0.001,
        redis_reconnect_base_delay_seconds=0.001,
    )
    store = _store(app)
    runner = _Runner()
    token = context.current_runner.set(runner)  # type: ignore[arg-type]
    try:
        store.note_runner()
    finally:
        context.current_runner.reset(token)
    runner.running = False
    with pytest.raises(RedisUnavailableError):
        store.run(_FlakyServer(failures=10))


def test_another_thread_of_a_runner_process_keeps_retrying_too(
    redis_config: dict[str, Any],
) -> None:
    """Heartbeat and service threads have no runner in their context: the process's runner
    decides."""
    app = _app(
        redis_url=redis_config["redis_url"],
        redis_retry_max_attempts=0,
        redis_reconnect_base_delay_seconds=0.001,
        redis_reconnect_max_delay_seconds=0.001,
    )
    store = _store(app)
    runner = _Runner()
    token = context.current_runner.set(runner)  # type: ignore[arg-type]
    try:
        store.note_runner()
    finally:
        context.current_runner.reset(token)
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(store.run(_FlakyServer(5))))
    thread.start()
    thread.join(10)
    runner.running = False
    assert outcome == ["answer"]


def test_a_wrong_password_is_a_clear_error_that_does_not_show_it(tmp_path: Path) -> None:
    server = RedisServer(
        require_redis_server(), tmp_path / "auth", extra_args=("--requirepass", "right")
    )
    server.start()
    try:
        app = _app(
            redis_url=f"redis://:{SECRET}@127.0.0.1:{server.port}/0",
            redis_retry_base_delay_sec=0.001,
        )
        with pytest.raises(RedisAuthenticationError, match="redis_password") as info:
            app.orchestrator.count_invocations()
        assert SECRET not in str(info.value)
        good = _app(redis_url=f"redis://:right@127.0.0.1:{server.port}/0")
        assert good.orchestrator.count_invocations() == {}
    finally:
        server.shutdown()
