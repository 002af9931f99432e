"""The runner side: what a check does with the decision, and what it records."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.exceptions import BackendError, PynencError
from pynenc.orchestrator.atomic_service import (
    AtomicServiceDecisionReason,
    AtomicServiceExecution,
    AtomicServiceExecutionStatus,
    AtomicServiceId,
)
from pynenc.runner.atomic_services import (
    AtomicGlobalService,
    AtomicServiceContext,
    AtomicServiceLoop,
)
from pynenc.runner.base_runner import DummyRunner, ExternalRunner
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.util.clock import FakeClock

from .conftest import CYCLE_ALIGNED_START, RecordingHandler, clocked_app, runner_ctx, wait_until

Status = AtomicServiceExecutionStatus
Reason = AtomicServiceDecisionReason
T0 = CYCLE_ALIGNED_START
FIVE_MINUTE_CYCLE: dict[str, Any] = {
    "atomic_service_interval_minutes": 5.0,
    "atomic_service_spread_margin_minutes": 1.0,
    "atomic_service_max_start_slot_fraction": 1.0,
}


class Work(AtomicGlobalService):
    """A service that counts its runs and can do something on each."""

    def __init__(
        self,
        name: str = "work",
        action: Callable[[AtomicServiceContext], bool | None] | None = None,
    ) -> None:
        self.name = name
        self.calls = 0
        self._action = action

    def run(self, ctx: AtomicServiceContext) -> bool:
        self.calls += 1
        if self._action is None:
            return True
        outcome = self._action(ctx)
        return True if outcome is None else outcome


def joined_loop(app: Pynenc, *services: AtomicGlobalService) -> AtomicServiceLoop:
    """A runner that heartbeated (joined the schedule) and its loop, driven by hand."""
    runner = ThreadRunner(app)
    runner._send_heartbeats()
    return AtomicServiceLoop(runner, list(services))


def executions(app: Pynenc) -> list[AtomicServiceExecution]:
    return app.orchestrator.get_atomic_service_executions(limit=1000)


def test_a_run_is_recorded_running_then_completed(clock: FakeClock) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    seen_while_running: list[AtomicServiceExecution] = []
    work = Work(action=lambda ctx: seen_while_running.extend(executions(app)) and None)
    loop = joined_loop(app, work)
    clock.advance(30)

    claim = loop.check()

    assert claim is not None and claim.reason == Reason.ASSIGNED
    assert [(e.status, e.end_time) for e in seen_while_running] == [(Status.RUNNING, None)]
    [done] = executions(app)
    assert (done.status, done.reason, done.runner_id) == (
        Status.COMPLETED,
        "",
        loop.runner.runner_id,
    )
    assert done.start_time == T0 + timedelta(seconds=30)
    assert done.atomic_service_run_id == seen_while_running[0].atomic_service_run_id


def test_a_runner_runs_the_services_once_per_cycle(clock: FakeClock) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    work = Work()
    loop = joined_loop(app, work)
    for _ in range(3):
        loop.check()
        clock.advance(30)
    assert work.calls == 1
    clock.advance(300)
    loop.check()
    assert work.calls == 2


def test_the_services_run_in_list_order(clock: FakeClock) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    order: list[str] = []
    first = Work("first", lambda ctx: order.append("first") and None)
    second = Work("second", lambda ctx: order.append("second") and None)
    joined_loop(app, first, second).check()
    assert order == ["first", "second"]


def test_a_run_with_too_little_slot_left_is_abandoned_without_work(clock: FakeClock) -> None:
    app = clocked_app(clock, atomic_service_min_run_margin_seconds=30, **FIVE_MINUTE_CYCLE)
    work = Work()
    loop = joined_loop(app, work)
    clock.advance(300 - 10)
    loop.check()
    assert work.calls == 0
    [abandoned] = executions(app)
    assert (abandoned.status, abandoned.reason) == (Status.ABANDONED, "no_margin")


def test_services_stop_when_the_slot_ends(clock: FakeClock) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    overrun = Work("overrun", lambda ctx: clock.advance(ctx.time_left() + 1))
    never = Work("never")
    joined_loop(app, overrun, never).check()
    assert never.calls == 0
    [abandoned] = executions(app)
    assert (abandoned.status, abandoned.reason) == (Status.ABANDONED, "timeout")
    assert abandoned.end_time == T0 + timedelta(seconds=301)


def test_a_service_that_reports_it_stopped_early_abandons_the_run(clock: FakeClock) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    joined_loop(app, Work("partial", lambda ctx: False)).check()
    assert executions(app)[0].status == Status.ABANDONED


def test_a_failing_service_abandons_the_run_but_not_the_others_or_the_loop(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)

    def fail(ctx: AtomicServiceContext) -> bool:
        raise BackendError("store unreachable")

    failing = Work("failing", fail)
    after = Work("after")
    loop = joined_loop(app, failing, after)
    loop.check()
    clock.advance(300)
    loop.check()
    assert (failing.calls, after.calls) == (2, 2)
    latest, earlier = executions(app)
    assert latest.status == Status.ABANDONED, "the loop ran again in the next cycle"
    assert earlier.status == Status.ABANDONED
    assert earlier.reason == "error: failing: BackendError: store unreachable"


def test_a_check_never_raises(
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    log_records: Callable[[Pynenc], RecordingHandler],
) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    loop = joined_loop(app, Work())
    records = log_records(app)

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise PynencError("orchestrator down")

    monkeypatch.setattr(app.orchestrator, "get_active_runners", broken)
    assert loop.check() is None
    assert any("atomic service check failed" in m for m in records.messages(logging.ERROR))
    assert loop.last_check_time == clock.time()


def test_a_runner_in_its_grace_window_records_one_blocked_execution_per_cycle(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, atomic_service_membership_stabilization_minutes=2, **FIVE_MINUTE_CYCLE)
    work = Work()
    loop = joined_loop(app, work)
    for _ in range(4):
        clock.advance(10)
        loop.check()
    assert work.calls == 0
    [blocked] = executions(app)
    assert (blocked.status, blocked.reason) == (Status.BLOCKED, "scheduled_runner_in_grace")
    assert blocked.end_time == blocked.start_time
    clock.advance(300)
    loop.check()
    assert work.calls == 1, "out of grace in the next cycle"


def test_a_late_start_is_recorded_once_and_skips_the_cycle(clock: FakeClock) -> None:
    app = clocked_app(clock, **{**FIVE_MINUTE_CYCLE, "atomic_service_max_start_slot_fraction": 0.5})
    work = Work()
    loop = joined_loop(app, work)
    clock.advance(200)
    loop.check()
    clock.advance(30)
    loop.check()
    assert work.calls == 0
    assert [(e.status, e.reason) for e in executions(app)] == [(Status.BLOCKED, "late_start")]


def test_an_invalid_slot_window_warns_once_naming_the_settings_and_is_recorded_by_the_slot_owner(
    clock: FakeClock, log_records: Callable[[Pynenc], RecordingHandler]
) -> None:
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE)
    app.orchestrator.register_runner_heartbeats(
        [f"older-{i}" for i in range(4)], can_run_atomic_service=True
    )
    clock.advance(1)
    work = Work()
    loop = joined_loop(app, work)
    records = log_records(app)

    for second in (10, 100, 250, 260, 290):
        clock.set(T0 + timedelta(seconds=second))
        claim = loop.check()
        assert claim is not None and claim.reason == Reason.SLOT_WINDOW_INVALID

    assert work.calls == 0
    warnings = [m for m in records.messages(logging.WARNING) if "atomic_service_" in m]
    assert len(warnings) == 1
    assert "atomic_service_interval_minutes above 5 (e.g. 10)" in warnings[0]
    assert "atomic_service_spread_margin_minutes below 1 (e.g. 0.5)" in warnings[0]
    assert [(e.status, e.reason, e.runner_id) for e in executions(app)] == [
        (Status.BLOCKED, "slot_window_invalid", loop.runner.runner_id)
    ], "recorded once, by the runner owning the last slot (250-300 s) only"


def test_finalizing_applies_the_age_retention(clock: FakeClock) -> None:
    app = clocked_app(clock, atomic_service_execution_retention_minutes=10, **FIVE_MINUTE_CYCLE)
    loop = joined_loop(app, Work())
    loop.check()
    first = executions(app)[0]
    clock.advance(20 * 60)
    loop.runner._send_heartbeats()
    loop.check()
    [kept] = executions(app)
    assert kept.atomic_service_run_id != first.atomic_service_run_id
    assert kept.start_time == T0 + timedelta(minutes=20)


def test_finalizing_applies_the_record_cap(clock: FakeClock) -> None:
    app = clocked_app(clock, atomic_service_execution_max_records=2, **FIVE_MINUTE_CYCLE)
    loop = joined_loop(app, Work())
    starts = []
    for _ in range(4):
        loop.runner._send_heartbeats()
        loop.check()
        starts.append(clock.now())
        clock.advance(300)
    assert [e.start_time for e in executions(app)] == starts[:1:-1]


def test_only_top_level_runners_take_part_in_the_schedule(clock: FakeClock) -> None:
    app = clocked_app(clock)
    parent = ThreadRunner(app)
    child = ThreadRunner(app, runner_context=parent.runner_context.new_child("ThreadRunner", "c1"))
    assert parent.can_run_atomic_service
    assert not child.can_run_atomic_service
    assert not DummyRunner(app).can_run_atomic_service
    assert not ExternalRunner(app).can_run_atomic_service
    assert child._new_atomic_service_loop() is None


def test_a_child_runner_heartbeats_without_the_atomic_service_flag(clock: FakeClock) -> None:
    app = clocked_app(clock)
    parent = ThreadRunner(app)
    child = ThreadRunner(app, runner_context=parent.runner_context.new_child("ThreadRunner", "c1"))
    parent._send_heartbeats()
    child._send_heartbeats()
    flags = {
        r.runner_id: r.allow_to_run_atomic_service for r in app.orchestrator.get_active_runners()
    }
    assert flags == {parent.runner_id: True, "c1": False}


def test_a_check_without_a_loop_does_nothing(clock: FakeClock) -> None:
    app = clocked_app(clock)
    child = ThreadRunner(app, runner_context=runner_ctx("root").new_child("ThreadRunner", "c1"))
    child._check_atomic_services()
    assert executions(app) == []


def test_a_runner_that_ran_this_cycle_records_nothing_more_in_it(clock: FakeClock) -> None:
    app = clocked_app(clock, **{**FIVE_MINUTE_CYCLE, "atomic_service_max_start_slot_fraction": 0.5})
    loop = joined_loop(app, Work())
    clock.advance(10)
    loop.check()
    clock.advance(200)
    claim = loop.check()
    assert claim is not None and claim.reason == Reason.LATE_START
    assert [e.status for e in executions(app)] == [Status.COMPLETED]


def test_a_runner_starts_its_slot_when_it_begins_not_at_its_next_regular_check(
    clock: FakeClock,
) -> None:
    """Two runners, checks every 60 s: the second one's slot starts at 150 s, between its
    checks at 120 s and 180 s; it runs from 150 s, and again from 450 s in the next cycle."""
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE, atomic_service_check_interval_minutes=1.0)
    first, second = ThreadRunner(app), ThreadRunner(app)
    first._send_heartbeats()
    clock.advance(0.001)  # the second joined later: it has the second slot
    second._send_heartbeats()
    work = Work()
    loop = AtomicServiceLoop(second, [work])
    loop.start()
    at = T0.timestamp()
    try:
        clock.set(T0 + timedelta(seconds=149))
        wait_until(lambda: (loop.last_check_time or 0) >= at + 120)
        assert work.calls == 0, "before 150 s the slot is the first runner's"
        clock.set(T0 + timedelta(seconds=150.01))
        wait_until(lambda: work.calls == 1)
        clock.set(T0 + timedelta(seconds=449))
        wait_until(lambda: (loop.last_check_time or 0) >= at + 420)
        assert work.calls == 1, "one run per cycle"
        clock.set(T0 + timedelta(seconds=450.01))
        wait_until(lambda: work.calls == 2)
    finally:
        second._stop_event.set()
        loop.join()
    starts = sorted((e.start_time - T0).total_seconds() for e in executions(app))
    assert starts == [pytest.approx(150.01), pytest.approx(450.01)], (
        "each run started at its slot's start, not at the next regular check (180 s, 480 s)"
    )


def _two_runners_and_the_seconds_loop(
    clock: FakeClock, work: Work
) -> tuple[Pynenc, ThreadRunner, AtomicServiceLoop]:
    """A first runner (no loop: the test records its runs) and a second one whose loop runs;
    checks every 60 s, so only the wake-ups under test start anything between them."""
    app = clocked_app(clock, **FIVE_MINUTE_CYCLE, atomic_service_check_interval_minutes=1.0)
    first, second = ThreadRunner(app), ThreadRunner(app)
    first._send_heartbeats()
    clock.advance(0.001)
    second._send_heartbeats()
    loop = AtomicServiceLoop(second, [work])
    return app, first, loop


def _record_run(app: Pynenc, runner: ThreadRunner, start: float, end: float | None) -> None:
    execution = AtomicServiceExecution(
        AtomicServiceId(runner.runner_id), T0 + timedelta(seconds=start), None, Status.RUNNING
    )
    app.orchestrator.record_atomic_service_execution(execution)
    if end is not None:
        app.orchestrator.finalize_atomic_service_execution(
            execution._replace(end_time=T0 + timedelta(seconds=end), status=Status.COMPLETED)
        )


@pytest.mark.parametrize(
    "first_started", [0.5, -30.0], ids=["in its slot", "itself taking over early"]
)
def test_a_runner_takes_over_in_the_margin_once_the_runner_before_it_finished(
    clock: FakeClock, first_started: float
) -> None:
    """The first runner's window ends at 90 s (150 s slots less the 60 s margin); it recorded
    its run as finished, so the second one starts within a poll, not at 150 s."""
    work = Work()
    app, first, loop = _two_runners_and_the_seconds_loop(clock, work)
    _record_run(app, first, first_started, 90.0)
    loop.start()
    try:
        clock.set(T0 + timedelta(seconds=90.2))
        wait_until(lambda: (loop.last_check_time or 0) >= T0.timestamp() + 90)
        clock.set(T0 + timedelta(seconds=91))
        wait_until(lambda: work.calls == 1)
    finally:
        loop.runner._stop_event.set()
        loop.join()
    (run,) = [e for e in executions(app) if e.runner_id == loop.runner.runner_id]
    assert 90 < (run.start_time - T0).total_seconds() <= 91


@pytest.mark.parametrize(
    "first_run", ["still running", "none this window", "finished, another still running"]
)
def test_a_runner_keeps_the_margin_while_the_runner_before_it_may_still_run(
    clock: FakeClock, first_run: str
) -> None:
    work = Work()
    app, first, loop = _two_runners_and_the_seconds_loop(clock, work)
    if first_run == "still running":
        _record_run(app, first, 0.5, None)
    elif first_run == "finished, another still running":
        # a run started under another membership may last until its old slot's end
        _record_run(app, first, 0.5, 90.0)
        app.orchestrator.record_atomic_service_execution(
            AtomicServiceExecution(
                AtomicServiceId("runner-of-another-layout"),
                T0 + timedelta(seconds=60),
                None,
                Status.RUNNING,
            )
        )
    loop.start()
    try:
        for second in (90.2, 100, 120, 149):
            clock.set(T0 + timedelta(seconds=second))
            wait_until(lambda s=second: (loop.last_check_time or 0) >= T0.timestamp() + s - 1)  # type: ignore[misc]
        assert work.calls == 0, "nothing says the first runner is done: wait for the slot"
        clock.set(T0 + timedelta(seconds=150.01))
        wait_until(lambda: work.calls == 1)
    finally:
        loop.runner._stop_event.set()
        loop.join()
