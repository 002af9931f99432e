"""Orchestration scenarios: concurrency control, cycle control and blocking control, through
the whole stack of the backend under test."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import datetime

import pytest

from pynenc.app import Pynenc
from pynenc.exceptions import ConcurrencyControlError, CycleDetectedError
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import orchestration_tasks as otasks
from pynenc.testing.harness import (
    RUNNER_CONFIG,
    WAIT_SECONDS,
    ConformanceHarness,
    ConformanceTests,
    race,
    wait_until,
)

S = InvocationStatus


def _running_intervals(
    harness: ConformanceHarness, app: Pynenc, invocation_id: str
) -> list[tuple[datetime, datetime]]:
    """(entered RUNNING, left RUNNING) periods from the invocation's history."""
    intervals: list[tuple[datetime, datetime]] = []
    started: datetime | None = None
    for entry in harness.history(app, invocation_id):  # type: ignore[arg-type]
        status, when = entry.status_record.status, entry.status_record.timestamp
        if status == S.RUNNING:
            started = when
        elif started is not None:
            intervals.append((started, when))
            started = None
    return intervals


class OrchestrationScenarios(ConformanceTests):
    """Concurrency, cycle and blocking control on the backend under test."""

    contract = "orchestration"

    # ------------------------------------------------------------------ registration

    def test_an_equal_call_reuses_the_registered_invocation(
        self, harness: ConformanceHarness
    ) -> None:
        task = harness.task(otasks.registered_once_per_arguments)
        first, again, other = task(1), task(1), task(2)
        assert again.invocation_id == first.invocation_id, (
            "registration concurrency ARGUMENTS: an equal call reuses the REGISTERED invocation"
        )
        assert other.invocation_id != first.invocation_id
        assert harness.counts(harness.app)[S.REGISTERED] == 2

    def test_reuse_ends_once_the_invocation_leaves_registered(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**RUNNER_CONFIG)
        task = harness.task(otasks.registered_once_per_arguments, app)
        first = task(5)
        harness.start_runner(app)
        assert first.wait(WAIT_SECONDS) == 5
        assert task(5).invocation_id != first.invocation_id

    def test_a_keyed_call_with_other_arguments_raises_when_asked_to(
        self, harness: ConformanceHarness
    ) -> None:
        task = harness.task(otasks.registered_once_per_key)
        first = task("k", 1)
        assert task("k", 1).invocation_id == first.invocation_id
        with pytest.raises(ConcurrencyControlError, match="other arguments"):
            task("k", 2)
        assert harness.counts(harness.app)[S.REGISTERED] == 1

    def test_racing_equal_calls_register_one_invocation(self, harness: ConformanceHarness) -> None:
        harness.require("concurrent_access")
        task = harness.task(otasks.registered_once_per_arguments)
        ids = race(12, lambda _: task(42).invocation_id)
        assert len(set(ids)) == 1, "racing equal calls must register exactly one invocation"
        assert harness.counts(harness.app)[S.REGISTERED] == 1

    # ------------------------------------------------------------------ running

    def test_never_two_running_for_one_key_under_racing_runners(
        self, harness: ConformanceHarness
    ) -> None:
        harness.require("concurrent_access")
        app = harness.new_app(**RUNNER_CONFIG, concurrency_control_retry_seconds=0.01)
        for _ in range(4):
            harness.start_runner(app)
        task = harness.task(otasks.exclusive_per_key, app)
        group = task.parallelize([(f"key-{i % 5}", i, 0.005) for i in range(200)])
        assert group.wait(WAIT_SECONDS * 4) == list(range(200))
        by_key: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for index, invocation in enumerate(group):
            by_key[f"key-{index % 5}"].extend(
                _running_intervals(harness, app, invocation.invocation_id)
            )
        for key, intervals in by_key.items():
            intervals.sort()
            for (_, end), (start, _) in itertools.pairwise(intervals):
                assert start >= end, f"two invocations of {key} were RUNNING at the same time"

    def test_a_held_back_invocation_is_rerouted_and_runs_later(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**RUNNER_CONFIG, concurrency_control_retry_seconds=0.01)
        harness.start_runner(app)
        task = harness.task(otasks.exclusive_per_key, app)
        first = task("same", 1, 0.3)
        wait_until(lambda: first.status == S.RUNNING, "the first invocation runs")
        second = task("same", 2, 0.0)
        assert second.wait(WAIT_SECONDS) == 2
        statuses = harness.statuses(app, second.invocation_id)
        assert S.CONCURRENCY_CONTROLLED in statuses and S.REROUTED in statuses
        assert first.wait(WAIT_SECONDS) == 1

    def test_without_reroute_a_held_back_invocation_ends_final(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**RUNNER_CONFIG)
        harness.start_runner(app)
        task = harness.task(otasks.exclusive_or_dropped, app)
        first = task(0.5)
        wait_until(lambda: first.status == S.RUNNING, "the first invocation runs")
        second = task(0.0)
        with pytest.raises(ConcurrencyControlError):
            second.wait(WAIT_SECONDS)
        assert second.status == S.CONCURRENCY_CONTROLLED_FINAL
        assert first.wait(WAIT_SECONDS) == 0.5

    # ------------------------------------------------------------------ cycles

    def test_a_call_closing_a_cycle_raises_naming_the_chain(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**RUNNER_CONFIG)
        harness.start_runner(app)
        with pytest.raises(CycleDetectedError) as info:
            harness.task(otasks.ping, app)(3).wait(WAIT_SECONDS)
        chain = info.value.chain
        assert ".ping(" in chain[0] and ".pong(" in chain[1] and chain[-1].endswith(".ping")

    def test_a_task_calling_itself_with_the_same_arguments_is_a_cycle(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**RUNNER_CONFIG)
        harness.start_runner(app)
        with pytest.raises(CycleDetectedError):
            harness.task(otasks.call_self_once, app)(uuid.uuid4().hex).wait(WAIT_SECONDS)

    def test_cycle_control_can_be_switched_off(self, harness: ConformanceHarness) -> None:
        app = harness.new_app(**RUNNER_CONFIG, cycle_control=False)
        harness.start_runner(app)
        invocation = harness.task(otasks.call_self_once, app)(uuid.uuid4().hex)
        assert invocation.wait(WAIT_SECONDS) == "outer:inner", (
            "with cycle_control off, a repeated call is registered and runs"
        )

    # ------------------------------------------------------------------ blocking

    def test_a_deep_chain_finishes_on_two_slots(self, harness: ConformanceHarness) -> None:
        app = harness.new_app(**{**RUNNER_CONFIG, "max_threads": 2})
        harness.start_runner(app)
        assert harness.task(otasks.chain, app)(30).wait(WAIT_SECONDS * 2) == 30

    def test_a_short_task_that_waits_on_another_finishes_on_one_slot(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**{**RUNNER_CONFIG, "max_threads": 1})
        harness.start_runner(app)
        task = harness.task(otasks.child_unless_negative, app)
        for _ in range(3):
            assert task(-1).wait(WAIT_SECONDS) == -1, "a short task, as the runner learns"
        assert task(7).wait(WAIT_SECONDS) == 7, "its slot went to the child it waits on"

    def test_a_short_task_that_runs_long_does_not_hold_back_queued_work(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**{**RUNNER_CONFIG, "max_threads": 2})
        harness.start_runner(app)
        held = harness.task(otasks.held, app)
        key = uuid.uuid4().hex
        otasks.released(key).set()
        for _ in range(3):
            assert held(key).wait(WAIT_SECONDS) == key, "a short task, as the runner learns"
        slow_key = uuid.uuid4().hex
        slow = held(slow_key)
        try:
            wait_until(lambda: slow.status == S.RUNNING, "the long one runs")
            quick = harness.task(otasks.filler, app)(5)
            assert quick.wait(WAIT_SECONDS) == 5, "queued work ran on the free slot meanwhile"
            assert slow.status == S.RUNNING
        finally:
            otasks.released(slow_key).set()
        assert slow.wait(WAIT_SECONDS) == slow_key

    def test_invocations_others_wait_on_run_before_queued_work(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**{**RUNNER_CONFIG, "max_threads": 1})
        parent = harness.task(otasks.parent_of_one, app)(-1)
        fillers = harness.task(otasks.filler, app).parallelize([(i,) for i in range(20)])
        harness.start_runner(app)
        assert parent.wait(WAIT_SECONDS) == -1
        fillers.wait(WAIT_SECONDS)
        child_id = next(iter(app.state_backend.get_child_invocations(parent.invocation_id)))
        child_start = _running_intervals(harness, app, child_id)[0][0]
        filler_starts = [_running_intervals(harness, app, f.invocation_id)[0][0] for f in fillers]
        assert child_start < min(filler_starts), (
            "blocking control: the invocation a waiting parent needs runs before queued work"
        )
