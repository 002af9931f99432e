"""Services run on their cron schedule: once per tick across any number of checks and runners."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from pynenc import Pynenc
from pynenc.exceptions import ConfigValueError
from pynenc.runner.atomic_services import (
    AtomicServiceContext,
    CronScheduledService,
    default_atomic_services,
    latest_cron_tick,
)
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.util.clock import FakeClock

from .conftest import CYCLE_ALIGNED_START, clocked_app, runner_ctx

T0 = CYCLE_ALIGNED_START


class CountingWork:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, ctx: AtomicServiceContext) -> bool:
        with self._lock:
            self.calls += 1
        return True


def context(app: Pynenc, runner_id: str = "r1") -> AtomicServiceContext:
    return AtomicServiceContext(
        app, runner_ctx(runner_id), app.clock.time() + 3600, threading.Event()
    )


def test_the_latest_tick_is_now_when_now_is_a_tick() -> None:
    assert latest_cron_tick("*/5 * * * *", T0 + timedelta(minutes=10)) == T0 + timedelta(minutes=10)


def test_the_latest_tick_is_the_previous_one_between_ticks() -> None:
    now = T0 + timedelta(minutes=12, seconds=30)
    assert latest_cron_tick("*/5 * * * *", now) == T0 + timedelta(minutes=10)


def test_a_sixth_field_is_read_as_seconds() -> None:
    now = T0 + timedelta(seconds=25)
    assert latest_cron_tick("* * * * * */10", now) == T0 + timedelta(seconds=20)


def test_a_service_runs_once_per_tick_however_often_it_is_checked(clock: FakeClock) -> None:
    app = clocked_app(clock)
    work = CountingWork()
    service = CronScheduledService("cleanup", "*/5 * * * *", work)
    clock.advance(90)
    for _ in range(5):
        assert service.run(context(app))
    assert work.calls == 1
    clock.advance(60)
    service.run(context(app))
    assert work.calls == 1, "no new tick since the last run"
    clock.advance(4 * 60)
    service.run(context(app))
    service.run(context(app))
    assert work.calls == 2


def test_ticks_missed_while_nobody_checked_run_once(clock: FakeClock) -> None:
    app = clocked_app(clock)
    work = CountingWork()
    service = CronScheduledService("cleanup", "* * * * *", work)
    service.run(context(app))
    clock.advance(3600)
    service.run(context(app))
    assert work.calls == 2


def test_two_runners_never_both_run_one_tick(clock: FakeClock) -> None:
    app = clocked_app(clock)
    work = CountingWork()
    services = [CronScheduledService("cleanup", "* * * * *", work) for _ in range(8)]
    start = threading.Barrier(len(services))

    def run(index: int) -> None:
        start.wait()
        services[index].run(context(app, f"runner-{index}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(services))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert work.calls == 1


def test_the_default_services_are_recovery_purge_then_triggers(clock: FakeClock) -> None:
    names = [s.name for s in default_atomic_services(clocked_app(clock))]
    assert names == [
        "recover_pending_invocations",
        "recover_running_invocations",
        "purge_final_invocations",
        "triggers",
    ]


@pytest.mark.parametrize(
    ("field", "expression"),
    [
        ("recover_pending_invocations_cron", "61 * * * *"),
        ("recover_running_invocations_cron", "0 0 30 2 *"),
    ],
)
def test_an_invalid_recovery_cron_fails_at_runner_start_naming_the_field(
    clock: FakeClock, field: str, expression: str
) -> None:
    runner = ThreadRunner(clocked_app(clock, **{field: expression}))
    with pytest.raises(ConfigValueError, match=field):
        runner.run()
    assert not runner.running


@pytest.mark.parametrize(
    ("field", "config"),
    [
        (
            "atomic_service_min_run_margin_seconds",
            {"atomic_service_interval_minutes": 1.0, "atomic_service_min_run_margin_seconds": 60},
        ),
        (
            "atomic_service_check_interval_minutes",
            {
                "atomic_service_interval_minutes": 1.0,
                "atomic_service_check_interval_minutes": 0.8,
                "atomic_service_max_start_slot_fraction": 0.5,
            },
        ),
    ],
)
def test_timings_without_a_usable_slot_fail_at_runner_start_naming_the_option(
    clock: FakeClock, field: str, config: dict[str, float]
) -> None:
    from pynenc.exceptions import ConfigValueError
    from pynenc.runner.thread_runner import ThreadRunner

    runner = ThreadRunner(clocked_app(clock, **config))
    with pytest.raises(ConfigValueError, match=field):
        runner.run()
