"""End-to-end scenarios: the whole stack, with a ThreadRunner serving the app in a background
thread (or, for the cross-process scenario, a runner in another process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.exceptions import InvocationStatusNotFoundError, InvocationTimeoutError
from pynenc.invocation.status import InvocationStatus
from pynenc.invocation.sync_invocation import SyncInvocation
from pynenc.testing import tasks
from pynenc.testing.harness import (
    RUNNER_CONFIG,
    WAIT_SECONDS,
    ConformanceHarness,
    ConformanceTests,
    RunningRunner,
    wait_until,
)
from pynenc.util.clock import FakeClock

S = InvocationStatus


def _key() -> str:
    return uuid.uuid4().hex


class EndToEndScenarios(ConformanceTests):
    """Calls made by a client, run by a runner, awaited by the client."""

    contract = "end_to_end"

    @pytest.fixture
    def live_app(self, harness: ConformanceHarness) -> Pynenc:
        return harness.new_app(**RUNNER_CONFIG)

    @pytest.fixture
    def runner(self, harness: ConformanceHarness, live_app: Pynenc) -> RunningRunner:
        return harness.start_runner(live_app)

    # ------------------------------------------------------------------ results

    @pytest.mark.usefixtures("runner")
    def test_a_call_runs_on_a_runner_and_returns_its_result(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.task(tasks.add, live_app)(1, 2)
        assert invocation.wait(WAIT_SECONDS) == 3
        assert invocation.status == S.SUCCESS

    @pytest.mark.usefixtures("runner")
    def test_a_task_exception_is_re_raised_with_its_type(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.task(tasks.fail_with, live_app)("boom")
        with pytest.raises(tasks.ConformanceTaskError, match="boom"):
            invocation.wait(WAIT_SECONDS)
        assert invocation.status == S.FAILED

    @pytest.mark.usefixtures("runner")
    def test_parallelized_calls_return_their_results_in_order(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        group = harness.task(tasks.add, live_app).parallelize([(i, i) for i in range(25)])
        assert group.wait(WAIT_SECONDS) == [2 * i for i in range(25)]

    @pytest.mark.usefixtures("runner")
    def test_an_async_task_runs_and_returns_its_result(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        assert harness.task(tasks.async_add, live_app)(20, 22).wait(WAIT_SECONDS) == 42

    def test_a_large_argument_travels_through_the_client_data_store(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(min_size_to_cache=100, **RUNNER_CONFIG)
        harness.start_runner(app)
        large = {"rows": [f"row {i}" for i in range(200)]}
        assert harness.task(tasks.echo, app)(large).wait(WAIT_SECONDS) == large

    def test_work_queued_before_any_runner_starts_runs_once_one_does(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.task(tasks.add, live_app)(5, 5)
        assert invocation.status == S.REGISTERED
        harness.start_runner(live_app)
        assert invocation.wait(WAIT_SECONDS) == 10

    # ------------------------------------------------------------------ retries

    @pytest.mark.usefixtures("runner")
    def test_a_failing_task_is_retried_until_it_succeeds(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        invocation = harness.task(tasks.flaky, live_app)(_key(), 2)
        assert invocation.wait(WAIT_SECONDS) == 3, "two failures, then success on attempt 3"
        assert invocation.num_retries == 2
        assert harness.statuses(live_app, invocation.invocation_id).count(S.RETRY) == 2

    @pytest.mark.usefixtures("runner")
    def test_retries_stop_after_max_retries(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        key = _key()
        invocation = harness.task(tasks.always_flaky, live_app)(key)
        with pytest.raises(tasks.FlakyError):
            invocation.wait(WAIT_SECONDS)
        assert invocation.num_retries == 2
        assert tasks.attempts(key) == 3, "max_retries=2 means three attempts in all"

    def test_a_retry_is_not_delivered_before_its_backoff_delay(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, **RUNNER_CONFIG)
        harness.start_runner(app)
        key = _key()
        invocation = harness.task(tasks.retry_after_a_minute, app)(key)
        wait_until(
            lambda: (
                app.orchestrator.get_invocation_status(invocation.invocation_id, False) == S.RETRY
            ),
            "the first attempt must fail into RETRY",
        )
        with pytest.raises(InvocationTimeoutError):
            invocation.wait(0.3)
        assert tasks.attempts(key) == 1, "a retry must not run before its delay has passed"
        fake_clock.advance(61)
        assert invocation.wait(WAIT_SECONDS) == 2

    # ------------------------------------------------------------------ waiting on other tasks

    def test_a_task_waiting_on_another_gives_its_slot_back(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(**{**RUNNER_CONFIG, "max_threads": 1})
        harness.start_runner(app)
        assert harness.task(tasks.add_through_child, app)(4, 5).wait(WAIT_SECONDS) == 9
        assert harness.task(tasks.sum_of_children, app)(6).wait(WAIT_SECONDS) == 30

    # ------------------------------------------------------------------ development mode

    def test_dev_mode_runs_calls_inline_without_the_backend(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(dev_mode_force_sync_tasks=True)
        invocation = harness.task(tasks.add, app)(2, 3)
        assert isinstance(invocation, SyncInvocation)
        assert invocation.result == 5
        group = harness.task(tasks.add, app).parallelize([(1, 1), (2, 2)])
        assert group.results == [2, 4]
        assert harness.counts(app) == {}

    # ------------------------------------------------------------------ isolation and history

    @pytest.mark.usefixtures("runner")
    def test_apps_on_the_same_backend_never_see_each_others_invocations(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        other_app = harness.new_app(**RUNNER_CONFIG)
        other = harness.task(tasks.add, other_app)(7, 7)
        mine = harness.task(tasks.add, live_app)(1, 1)
        assert mine.wait(WAIT_SECONDS) == 2
        assert other_app.orchestrator.get_invocation_status(other.invocation_id, False) == (
            S.REGISTERED
        ), "a runner must only run invocations of its own app"
        with pytest.raises(InvocationStatusNotFoundError):
            live_app.orchestrator.get_invocation_status(other.invocation_id, False)
        assert not live_app.state_backend.invocation_exists(other.invocation_id)
        assert harness.counts(live_app) == {S.SUCCESS: 1}

    @pytest.mark.usefixtures("runner")
    def test_each_transition_is_recorded_once_with_exactly_one_success(
        self, harness: ConformanceHarness, live_app: Pynenc, runner: RunningRunner
    ) -> None:
        invocation = harness.task(tasks.add, live_app)(3, 4)
        invocation.wait(WAIT_SECONDS)
        history = harness.history(live_app, invocation.invocation_id)
        assert [h.status_record.status for h in history] == [
            S.REGISTERED,
            S.PENDING,
            S.RUNNING,
            S.SUCCESS,
        ], "one history entry per transition, exactly one SUCCESS"
        assert {h.runner_context_id for h in history[1:]} == {runner.runner.runner_id}

    def test_caches_stay_bounded_however_many_invocations_run(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(status_cache_size=8, **RUNNER_CONFIG)
        harness.start_runner(app)
        group = harness.task(tasks.add, app).parallelize([(i, 1) for i in range(60)])
        assert group.wait(WAIT_SECONDS) == [i + 1 for i in range(60)]
        orchestrator = app.orchestrator
        assert len(orchestrator._final_cache) <= 8, "caches are bounded by status_cache_size"
        assert len(orchestrator._status_cache) <= 8, "caches are bounded by status_cache_size"
        backend = app.state_backend
        assert len(backend._runner_contexts) <= backend.conf.runner_context_cache_size
        store = app.client_data_store
        assert len(store._cache) <= store.conf.local_cache_size

    # ------------------------------------------------------------------ other processes

    def test_a_runner_in_another_process_runs_the_invocations(
        self, harness: ConformanceHarness, live_app: Pynenc
    ) -> None:
        harness.require("cross_process")
        invocations = harness.task(tasks.add, live_app).parallelize([(2, 3), (4, 5)])
        spec: dict[str, Any] = {
            "app_id": live_app.app_id,
            "config_values": dict(live_app.config_values),
            "config_filepath": live_app.config_filepath,
            "invocation_ids": [inv.invocation_id for inv in invocations],
            "timeout": 30.0,
        }
        try:
            payload = json.dumps(spec)
        except TypeError as exc:
            pytest.fail(f"cross-process scenarios need JSON-serializable config values: {exc}")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        child = subprocess.run(
            [sys.executable, "-m", "pynenc.testing.child_runner"],
            input=payload,
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
            check=False,
        )
        assert child.returncode == 0, f"the child runner failed:\n{child.stderr[-3000:]}"
        assert invocations.wait(WAIT_SECONDS) == [5, 9]
        last = harness.history(live_app, invocations.invocations[0].invocation_id)[-1]
        context = live_app.state_backend.get_runner_context(last.runner_context_id)
        assert context is not None and context.pid != os.getpid()
