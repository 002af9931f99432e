"""Recovery scenarios: work stuck in PENDING, or owned by a runner that stopped heartbeating,
goes back to the queue and finishes, exactly once."""

from __future__ import annotations

from typing import Any

from pynenc.app import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.orchestrator.recovery import recover_pending_invocations, recover_running_invocations
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.testing.harness import RUNNER_CONFIG, WAIT_SECONDS, ConformanceHarness, ConformanceTests
from pynenc.util.clock import FakeClock

S = InvocationStatus


def _claim_as(
    harness: ConformanceHarness, app: Pynenc, ctx: RunnerContext, *statuses: InvocationStatus
) -> InvocationId:
    """Queue one invocation, claim it as ``ctx`` (PENDING), then move it through ``statuses``."""
    invocation_id = harness.register(app, tasks.add, 1, 2).invocation_id
    claimed = app.orchestrator.get_invocations_to_run(1, ctx, timeout=WAIT_SECONDS)
    assert [i.invocation_id for i in claimed] == [invocation_id]
    for status in statuses:
        app.orchestrator.set_invocation_status(invocation_id, status, ctx)
    return invocation_id


def _statuses(app: Pynenc, invocation_id: InvocationId) -> list[Any]:
    return [h.status_record.status for h in app.state_backend.get_history(invocation_id)]


class RecoveryScenarios(ConformanceTests):
    """The recovery services on the backend under test, driven by a fake clock."""

    contract = "recovery"

    def test_an_invocation_pending_too_long_is_requeued(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, max_pending_seconds=5)
        stuck = _claim_as(harness, app, harness.runner_context("slow"))
        fake_clock.advance(6)
        recoverer = harness.runner_context("recoverer")
        assert recover_pending_invocations(app, recoverer).recovered == [stuck], (
            "an invocation PENDING longer than max_pending_seconds must be recovered"
        )
        assert _statuses(app, stuck)[-3:] == [S.PENDING, S.PENDING_RECOVERY, S.REROUTED]
        assert app.broker.retrieve_invocations(10, timeout=0) == [stuck]

    def test_a_recently_pending_invocation_is_left_alone(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, max_pending_seconds=5)
        fresh = _claim_as(harness, app, harness.runner_context("busy"))
        fake_clock.advance(4)
        assert recover_pending_invocations(app, harness.runner_context("r")).recovered == []
        assert app.orchestrator.get_invocation_status(fresh, use_cache=False) == S.PENDING

    def test_work_of_a_silent_runner_is_requeued_and_a_live_runners_is_not(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, runner_considered_dead_after_minutes=10)
        dead, live = harness.runner_context("dead"), harness.runner_context("live")
        app.orchestrator.register_runner_heartbeats([dead.runner_id, live.runner_id])
        orphan = _claim_as(harness, app, dead, S.RUNNING)
        paused = _claim_as(harness, app, dead, S.RUNNING, S.PAUSED)
        alive = _claim_as(harness, app, live, S.RUNNING)
        fake_clock.advance(11 * 60)
        app.orchestrator.register_runner_heartbeats([live.runner_id])
        recovered = recover_running_invocations(app, harness.runner_context("r")).recovered
        assert sorted(recovered) == sorted([orphan, paused]), (
            "RUNNING and PAUSED invocations of a runner silent past "
            "runner_considered_dead_after_minutes must be recovered, and only those"
        )
        assert _statuses(app, orphan)[-2:] == [S.RUNNING_RECOVERY, S.REROUTED]
        assert app.orchestrator.get_invocation_status(alive, use_cache=False) == S.RUNNING

    def test_a_recovered_invocation_runs_and_succeeds_exactly_once(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock, runner_considered_dead_after_minutes=10, **RUNNER_CONFIG
        )
        dead = harness.runner_context("dead")
        app.orchestrator.register_runner_heartbeats([dead.runner_id])
        orphan = _claim_as(harness, app, dead, S.RUNNING)
        fake_clock.advance(11 * 60)
        recover_running_invocations(app, harness.runner_context("r"))
        harness.start_runner(app)
        invocation = app.state_backend.get_invocation(orphan)
        assert invocation.wait(WAIT_SECONDS) == 3
        assert _statuses(app, orphan).count(S.SUCCESS) == 1
        late = app.orchestrator.try_set_invocation_status(orphan, S.SUCCESS, dead)
        assert late is None, "the dead runner's late write is refused"
