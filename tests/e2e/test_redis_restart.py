"""A Redis restart mid-run: runners keep reconnecting, in-flight work is recovered, nothing is
lost.

Two ``pynenc runner start`` processes work through invocations on a ``redis-server`` that keeps
an append-only file. The server is stopped with SHUTDOWN while they are busy, and started again
on the same port once both runners have noticed the outage; every invocation then finishes,
exactly once, and the runners are still running.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pynenc.invocation.status import InvocationStatus

from .conftest import E2E, wait_for

pytestmark = pytest.mark.slow

redis_testing = pytest.importorskip("pynenc.backends.redis.testing")

INVOCATIONS = 300


def _redis_server_binary() -> str:
    binary: str | None = redis_testing.find_redis_server()
    if binary is not None:
        return binary
    message = (
        "redis-server is not installed: `./dev test` installs it (apt-get install redis-server)"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[object]:
    """A redis-server with ``appendonly yes``: a SHUTDOWN and a start keep every write."""
    server = redis_testing.RedisServer(_redis_server_binary(), tmp_path / "redis", appendonly=True)
    server.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.kill()


@pytest.fixture
def redis_env(persistent_redis: object, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings selecting the Redis components, in this process's environment (so the
    tasks module's app uses them) and for the runner processes."""
    env = {
        "PYNENC__ORCHESTRATOR_CLS": "RedisOrchestrator",
        "PYNENC__BROKER_CLS": "RedisBroker",
        "PYNENC__STATE_BACKEND_CLS": "RedisStateBackend",
        "PYNENC__TRIGGER_CLS": "RedisTrigger",
        "PYNENC__CLIENT_DATA_STORE_CLS": "RedisClientDataStore",
        "PYNENC__REDIS_URL": persistent_redis.url,  # type: ignore[attr-defined]
        "PYNENC__REDIS_RECONNECT_MAX_DELAY_SECONDS": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def redis_e2e(redis_env: dict[str, str], request: pytest.FixtureRequest) -> E2E:
    """The e2e environment, built after the Redis settings are in the environment."""
    e2e: E2E = request.getfixturevalue("e2e")
    return e2e


def test_runners_survive_a_redis_restart_and_every_invocation_finishes_once(
    redis_e2e: E2E, redis_env: dict[str, str], persistent_redis: object
) -> None:
    server = persistent_redis
    options = ("--runner-class", "ThreadRunner", "--max-threads", "4")
    runners = [redis_e2e.start_runner(*options, **redis_env) for _ in range(2)]
    tasks = redis_e2e.tasks
    assert type(redis_e2e.app.orchestrator).__name__ == "RedisOrchestrator"
    invocations = [tasks.slow_square(i, 0.02) for i in range(INVOCATIONS)]
    orchestrator = redis_e2e.app.orchestrator
    wait_for(
        lambda: orchestrator.count_invocations().get(InvocationStatus.SUCCESS, 0) >= 50,
        60,
        "some of the work to finish before the restart",
    )

    server.shutdown()  # type: ignore[attr-defined]
    wait_for(
        lambda: all("is unreachable" in r.output() for r in runners),
        30,
        "both runners to notice the outage",
    )
    server.start()  # type: ignore[attr-defined]

    results = [inv.wait(timeout=120) for inv in invocations]
    assert results == [i * i for i in range(INVOCATIONS)], "every invocation finishes"
    successes = Counter(
        inv.invocation_id
        for inv in invocations
        for h in redis_e2e.app.state_backend.get_history(inv.invocation_id)
        if h.status_record.status == InvocationStatus.SUCCESS
    )
    assert set(successes.values()) == {1}, "every invocation succeeds exactly once"
    for runner in runners:
        assert runner.process.poll() is None, f"a runner stopped:\n{runner.output()[-3000:]}"
        log = runner.output()
        assert log.count("is unreachable") == 1, "the outage is logged once per runner"
        assert "is reachable again" in log, "the recovery is logged"
