"""Three ThreadRunners sharing one memory app take turns: their service runs never overlap."""

from __future__ import annotations

import threading
from itertools import pairwise
from typing import Any

from pynenc import Pynenc
from pynenc.orchestrator.atomic_service import AtomicServiceExecutionStatus
from pynenc.runner.atomic_services import (
    AtomicGlobalService,
    AtomicServiceContext,
    AtomicServiceLoop,
)
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.util.clock import FakeClock

from .conftest import clocked_app, wait_until

Status = AtomicServiceExecutionStatus
CHECK_SECONDS = 7.5
"""Check interval, and the step the test advances the clock by: every idle runner checks at
every step, so the test can wait for all of them before moving on."""


class SlowWork(AtomicGlobalService):
    """Takes 5 s of the fake clock (which moves in 7.5 s steps, so a run lasts one step) and
    reports the last time it saw, so the test knows when it has caught up with the clock."""

    name = "slow_work"

    def __init__(self, seen: dict[str, float], runner_id: str) -> None:
        self._seen = seen
        self._runner_id = runner_id

    def run(self, ctx: AtomicServiceContext) -> bool:
        clock = ctx.app.clock
        finish = clock.time() + 5
        while True:
            self._seen[self._runner_id] = clock.time()
            if ctx.should_stop():
                return False
            if clock.time() >= finish:
                return True
            clock.wait(ctx.stop_event, 0.5)


class SlowServiceRunner(ThreadRunner):
    """A ThreadRunner whose slot also runs :class:`SlowWork` after the default services."""

    seen: dict[str, float]

    def _new_atomic_service_loop(self) -> AtomicServiceLoop | None:
        loop = super()._new_atomic_service_loop()
        assert loop is not None
        loop.services.append(SlowWork(self.seen, self.runner_id))
        return loop


def caught_up(runners: list[SlowServiceRunner], now: float) -> bool:
    """Every runner has either finished its check at ``now`` or is in a run that saw ``now``."""
    for runner in runners:
        loop = runner._atomic_services
        if loop is None:
            return False
        in_run = loop.current_run is not None and runner.seen.get(runner.runner_id) == now
        if not (in_run or (loop.current_run is None and loop.last_check_time == now)):
            return False
    return True


def start(runners: list[SlowServiceRunner]) -> None:
    for runner in runners:
        threading.Thread(target=runner.run, daemon=True).start()


def test_three_runners_take_turns_without_overlapping_executions(clock: FakeClock) -> None:
    config: dict[str, Any] = {
        "atomic_service_interval_minutes": 1.5,
        "atomic_service_spread_margin_minutes": 0.125,
        "atomic_service_check_interval_minutes": CHECK_SECONDS / 60,
        "recover_pending_invocations_cron": "* * * * *",
        "recover_running_invocations_cron": "* * * * *",
    }
    app: Pynenc = clocked_app(clock, **config)
    seen: dict[str, float] = {}
    runners = [SlowServiceRunner(app) for _ in range(3)]
    for runner in runners:
        runner.seen = seen
    start(runners)
    try:
        wait_until(lambda: len(app.orchestrator.get_active_runners()) == 3)
        wait_until(lambda: all(r._atomic_services and r._atomic_services.started for r in runners))
        for _ in range(int(4 * 90 / CHECK_SECONDS) - 1):
            clock.advance(CHECK_SECONDS)
            now = clock.time()
            wait_until(lambda now=now: caught_up(runners, now))  # type: ignore[misc]
    finally:
        for runner in runners:
            runner.stop_runner_loop()
        for runner in runners:
            assert runner.wait_until_stopped(10), "runner did not stop"

    runs = app.orchestrator.get_atomic_service_executions(limit=1000)
    completed = [e for e in runs if e.status == Status.COMPLETED]
    interrupted = [e for e in runs if e.status != Status.COMPLETED]
    # a runner takes over in the margin before its slot once the previous run is over, so the
    # next cycle's first run may have begun when the runners were stopped
    assert {(e.status, e.reason) for e in interrupted} <= {(Status.ABANDONED, "stopped")}
    assert len(interrupted) <= 1
    per_runner = {r.runner_id: sum(e.runner_id == r.runner_id for e in completed) for r in runners}
    assert sorted(per_runner.values()) == [4, 4, 4], "each runner ran once in each cycle"
    intervals = sorted((e.start_time, e.end_time) for e in runs)
    for (start_a, end_a), (start_b, _) in pairwise(intervals):
        assert end_a is not None and end_a <= start_b, f"{start_a}-{end_a} overlaps {start_b}"
    durations = {(e.end_time - e.start_time).total_seconds() for e in completed if e.end_time}
    assert durations == {CHECK_SECONDS}, "every run spanned one step of the clock"
