"""The history time index: one set of invocation ids per 10-second window, which an invocation
joins once per window it has entries in (not once per entry), read back window by window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.codec import HISTORY_WINDOW_US
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.invocation.status import InvocationStatus as S
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.util.clock import FakeClock

WINDOW_SECONDS = HISTORY_WINDOW_US / 1_000_000
START = datetime(2030, 1, 1, tzinfo=UTC)  # a window boundary


def _app(redis_config: dict[str, Any], clock: FakeClock, **config: Any) -> Pynenc:
    app = Pynenc(
        app_id=f"history-index-{uuid.uuid4().hex[:8]}", config_values={**redis_config, **config}
    )
    app.clock = clock
    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(redis_config: dict[str, Any], clock: FakeClock) -> Iterator[Pynenc]:
    app = _app(redis_config, clock)
    yield app
    app.purge()


def _run_through_windows(app: Pynenc, clock: FakeClock, steps: list[float]) -> str:
    """Register a call, then claim, start and finish it, advancing the clock by ``steps[i]``
    seconds before each of those three moves."""
    ctx = RunnerContext.current("HistoryIndexTest", f"history-{uuid.uuid4().hex}")
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    clock.advance(steps[0])
    app.orchestrator.set_invocation_status(invocation_id, S.PENDING, ctx)
    clock.advance(steps[1])
    app.orchestrator.set_invocation_status(invocation_id, S.RUNNING, ctx)
    clock.advance(steps[2])
    app.orchestrator.set_invocation_result(invocation_id, 3, ctx)
    return invocation_id


def _statuses_between(app: Pynenc, start: float, end: float) -> list[S]:
    batches = app.state_backend.iter_history_in_timerange(
        START + timedelta(seconds=start), START + timedelta(seconds=end), batch_size=2
    )
    return [h.status_record.status for batch in batches for h in batch]


def _windows(redis_server: RedisServer, app: Pynenc) -> dict[str, set[str]]:
    client = redis_server.client()
    prefix = key_prefix(app.app_id)
    return {
        key.removeprefix(f"{prefix}s:hw:"): client.smembers(key)
        for key in client.scan_iter(f"{prefix}s:hw:*")
    }


def test_an_invocation_joins_a_window_once_for_all_its_entries_there(
    app: Pynenc, clock: FakeClock, redis_server: RedisServer
) -> None:
    invocation_id = _run_through_windows(app, clock, [1, 1, 1])
    first = str(int(START.timestamp()) * 1_000_000 // HISTORY_WINDOW_US)
    assert _windows(redis_server, app) == {first: {invocation_id}}
    assert _statuses_between(app, 0, WINDOW_SECONDS) == [
        S.REGISTERED,
        S.PENDING,
        S.RUNNING,
        S.SUCCESS,
    ]


def test_entries_spread_over_windows_are_each_found_in_their_own_window(
    app: Pynenc, clock: FakeClock, redis_server: RedisServer
) -> None:
    # REGISTERED in window 0, PENDING and RUNNING in window 1, SUCCESS in window 3
    invocation_id = _run_through_windows(app, clock, [WINDOW_SECONDS + 1, 1, 2 * WINDOW_SECONDS])
    windows = _windows(redis_server, app)
    assert len(windows) == 3 and all(ids == {invocation_id} for ids in windows.values())
    assert _statuses_between(app, 0, WINDOW_SECONDS) == [S.REGISTERED]
    assert _statuses_between(app, WINDOW_SECONDS, 2 * WINDOW_SECONDS) == [S.PENDING, S.RUNNING]
    assert _statuses_between(app, 2 * WINDOW_SECONDS, 3 * WINDOW_SECONDS) == []
    assert _statuses_between(app, 0, 10 * WINDOW_SECONDS) == [
        S.REGISTERED,
        S.PENDING,
        S.RUNNING,
        S.SUCCESS,
    ]
    # a range inside a window: only the entries in it
    assert _statuses_between(app, WINDOW_SECONDS + 1.5, WINDOW_SECONDS + 2.5) == [S.RUNNING]


def test_a_runners_claim_round_indexes_the_window_it_claims_and_starts_in(
    app: Pynenc, clock: FakeClock, redis_server: RedisServer
) -> None:
    ctx = RunnerContext.current("HistoryIndexTest", f"history-{uuid.uuid4().hex}")
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    clock.advance(WINDOW_SECONDS)
    claimed = app.orchestrator.get_invocations_to_run(1, ctx, timeout=0, start=True)
    assert [i.invocation_id for i in claimed] == [invocation_id]
    clock.advance(WINDOW_SECONDS)
    app.orchestrator.set_invocation_result(invocation_id, 3, ctx)
    assert len(_windows(redis_server, app)) == 3
    assert _statuses_between(app, 0, WINDOW_SECONDS) == [S.REGISTERED]
    assert _statuses_between(app, WINDOW_SECONDS, 2 * WINDOW_SECONDS) == [S.PENDING, S.RUNNING]
    assert _statuses_between(app, 2 * WINDOW_SECONDS, 3 * WINDOW_SECONDS) == [S.SUCCESS]


def test_entries_of_many_invocations_come_back_in_time_order_across_reads(
    app: Pynenc, clock: FakeClock
) -> None:
    registered = []
    for _ in range(450):  # more than one read of a window (200 ids per script call)
        registered.append(app.get_task(tasks.add.task_id)(1, 2).invocation_id)
        clock.advance(0.05)
    histories = [
        h
        for batch in app.state_backend.iter_history_in_timerange(
            START, START + timedelta(minutes=1), batch_size=100
        )
        for h in batch
    ]
    assert [h.invocation_id for h in histories] == registered
    assert [h.timestamp for h in histories] == sorted(h.timestamp for h in histories)


def test_with_a_state_retention_each_window_expires_after_it(
    redis_config: dict[str, Any], clock: FakeClock, redis_server: RedisServer
) -> None:
    app = _app(redis_config, clock, state_retention_hours=2.0)
    try:
        _run_through_windows(app, clock, [1, WINDOW_SECONDS, 1])
        client = redis_server.client()
        prefix = key_prefix(app.app_id)
        keys = list(client.scan_iter(f"{prefix}s:hw:*"))
        assert len(keys) == 2
        for key in keys:
            assert 2 * 3600 < client.ttl(key) <= 2 * 3600 + 2 * WINDOW_SECONDS
    finally:
        app.purge()


def test_without_a_state_retention_windows_are_kept(
    app: Pynenc, clock: FakeClock, redis_server: RedisServer
) -> None:
    _run_through_windows(app, clock, [1, 1, 1])
    client = redis_server.client()
    keys = list(client.scan_iter(f"{key_prefix(app.app_id)}s:hw:*"))
    assert keys and all(client.ttl(key) == -1 for key in keys)
