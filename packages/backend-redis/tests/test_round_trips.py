"""Round trips per task, counted on the commands each thread sends: registration is one round
trip per call or per batch, a notified result costs none, and a whole no-op task stays within
the budget the orchestrator's documentation states."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.client import Pipeline

from pynenc import Pynenc
from pynenc.backends.redis import connection as redis_connection
from pynenc.backends.redis import outbox
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.task import Task
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
    call_pipelined_on = redis_connection._call_pipelined_on

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

    def counting_pipelined_call(connection: Any, *commands: Any) -> Any:
        counter.count()
        return call_pipelined_on(connection, *commands)

    monkeypatch.setattr(redis.Redis, "execute_command", counting_command)
    monkeypatch.setattr(Pipeline, "execute", counting_pipeline)
    monkeypatch.setattr(redis_connection, "_call_on", counting_call)
    monkeypatch.setattr(redis_connection, "_call_pipelined_on", counting_pipelined_call)
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


def test_registering_a_lone_call_is_one_round_trip(
    app: Pynenc, round_trips: RoundTrips, monkeypatch: pytest.MonkeyPatch
) -> None:
    # calls far enough apart are each sent by their caller (none is part of a burst)
    monkeypatch.setattr(outbox, "BURST_SECONDS", 0.0)
    noop = _noop(app)
    noop()
    round_trips.reset()
    for _ in range(20):
        noop()
    assert round_trips.of("MainThread") == 20
    assert round_trips.total == 20


def test_a_burst_of_calls_costs_its_caller_at_most_one_round_trip(
    app: Pynenc, round_trips: RoundTrips, monkeypatch: pytest.MonkeyPatch
) -> None:
    # calls in a loop are a burst however slow the machine is
    monkeypatch.setattr(outbox, "BURST_SECONDS", 60.0)
    noop = _noop(app)
    noop()
    round_trips.reset()
    invocations = [noop() for _ in range(50)]
    # the first may be sent by its caller; the rest go in the background, in batches
    assert round_trips.of("MainThread") <= 1
    app.orchestrator.store.outbox.flush()
    assert round_trips.total <= 50
    statuses = {app.orchestrator.get_invocation_status(i.invocation_id) for i in invocations}
    assert statuses == {InvocationStatus.REGISTERED}


def test_registering_a_batch_is_one_round_trip(app: Pynenc, round_trips: RoundTrips) -> None:
    noop = _noop(app)
    noop()
    round_trips.reset()
    noop.parallelize([() for _ in range(50)])
    assert round_trips.of("MainThread") == 1


def _measure(
    app: Pynenc, round_trips: RoundTrips, workload: Callable[[Task[..., Any]], None]
) -> tuple[float, float]:
    """(client, runner) round trips per task while ``workload`` runs on a warm ThreadRunner."""
    noop = _noop(app)
    thread_runner = ThreadRunner(app)
    runner = RunningRunner(thread_runner).start()
    try:
        noop().wait(10)
        round_trips.reset()
        workload(noop)
    finally:
        runner.stop()
    client = round_trips.of("MainThread")
    runner_threads = sum(
        count
        for thread, count in round_trips.by_thread.items()
        if thread_runner.runner_id in thread
    )
    return client / TASKS, runner_threads / TASKS


def test_a_backlog_of_no_op_tasks_stays_within_the_documented_round_trips(
    app: Pynenc, round_trips: RoundTrips
) -> None:
    # The backlog is registered in one batch, so the runner finds work waiting whatever the
    # pace of the client: submitting call by call would let a fast runner catch up and go idle,
    # and the count would measure the race instead of the runner.
    def backlog_then_await(noop: Task[..., Any]) -> None:
        invocations = list(noop.parallelize([() for _ in range(TASKS)]))
        for invocation in invocations:
            invocation.wait(10)

    client, runner_side = _measure(app, round_trips, backlog_then_await)
    # client: 1 for the batch; a result it was notified of costs nothing to await (a few may
    # be asked for when their notification is still on its way)
    assert client <= 0.25, f"the client made {client:.2f} round trips per task"
    # runner: the final move claims the next invocation, so with a backlog about 1 per task
    assert runner_side <= 1.25, f"the runner made {runner_side:.2f} round trips per task"


def test_one_no_op_call_at_a_time_stays_within_the_documented_round_trips(
    app: Pynenc, round_trips: RoundTrips
) -> None:
    def one_at_a_time(noop: Task[..., Any]) -> None:
        for _ in range(TASKS):
            noop().wait(10)

    client, runner_side = _measure(app, round_trips, one_at_a_time)
    # client: 1 to register, none to await (registered while listening: notified)
    assert client <= 1.05, f"the client made {client:.2f} round trips per task"
    # runner: the final move goes with the wait for the next call and the round that claims
    # and starts it (finish_claim.lua), one round trip per task
    assert runner_side <= 1.25, f"the runner made {runner_side:.2f} round trips per task"
