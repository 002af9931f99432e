"""Round trips per task, counted on the client's commands: registration is one round trip per
call or per batch, a notified result costs none, and a whole no-op task stays within the budget
the orchestrator's documentation states."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.client import Pipeline

from pynenc import Pynenc
from pynenc.backends.redis import connection as redis_connection
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing.harness import RunningRunner

TASKS = 200


class RoundTrips:
    """Counts commands sent to the server, by thread: each is one round trip (a pipeline or a
    script is one). Threads of other tests' apps may still be running: count by thread."""

    def __init__(self) -> None:
        self.by_thread: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.by_thread[threading.current_thread().name] += 1

    @property
    def total(self) -> int:
        return sum(self.by_thread.values())

    def of(self, thread: str) -> int:
        return self.by_thread[thread]

    def reset(self) -> None:
        with self._lock:
            self.by_thread.clear()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    counter = RoundTrips()
    execute_command = redis.Redis.execute_command
    execute_pipeline = Pipeline.execute
    call_on = redis_connection._call_on

    def counting_command(self: Any, *args: Any, **options: Any) -> Any:
        if not isinstance(self, Pipeline):
            counter.count()
        return execute_command(self, *args, **options)

    def counting_pipeline(self: Any, *args: Any, **options: Any) -> Any:
        counter.count()
        return execute_pipeline(self, *args, **options)

    def counting_call(connection: Any, *command: Any) -> Any:
        counter.count()
        return call_on(connection, *command)

    monkeypatch.setattr(redis.Redis, "execute_command", counting_command)
    monkeypatch.setattr(Pipeline, "execute", counting_pipeline)
    monkeypatch.setattr(redis_connection, "_call_on", counting_call)
    return counter


@pytest.fixture
def app(redis_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Pynenc]:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    app = Pynenc(
        app_id=f"round-trips-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "logging_level": "warning", "max_threads": 8},
    )
    yield app
    app.purge()


def _noop(app: Pynenc) -> Any:
    from redis_test_tasks import noop

    return app.get_task(noop.task_id)


def test_registering_a_call_is_one_round_trip(app: Pynenc, round_trips: RoundTrips) -> None:
    noop = _noop(app)
    noop()
    round_trips.reset()
    for _ in range(20):
        noop()
    assert round_trips.of("MainThread") == 20


def test_registering_a_batch_is_one_round_trip(app: Pynenc, round_trips: RoundTrips) -> None:
    noop = _noop(app)
    noop()
    round_trips.reset()
    noop.parallelize([() for _ in range(50)])
    assert round_trips.of("MainThread") == 1


def test_a_no_op_task_stays_within_the_documented_round_trips(
    app: Pynenc, round_trips: RoundTrips
) -> None:
    noop = _noop(app)
    thread_runner = ThreadRunner(app)
    runner = RunningRunner(thread_runner).start()
    try:
        noop().wait(10)
        round_trips.reset()
        invocations = [noop() for _ in range(TASKS)]
        for invocation in invocations:
            invocation.wait(10)
    finally:
        runner.stop()
    client = round_trips.of("MainThread")
    runner_threads = sum(
        count
        for thread, count in round_trips.by_thread.items()
        if thread_runner.runner_id in thread
    )
    per_task = (client + runner_threads) / TASKS
    # client: 1 to register, and at most one read per result it was not notified of
    assert client <= 2 * TASKS, f"the client made {client / TASKS:.2f} round trips per task"
    # runner: 2 status changes, plus a share of the retrieval rounds (at most 2 per task)
    assert per_task <= 6, f"{per_task:.2f} round trips per task in all"
