"""Recovery services: stuck PENDING and orphaned RUNNING/PAUSED invocations go back to the queue."""

from __future__ import annotations

from typing import Any

from pynenc import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.orchestrator.recovery import recover_pending_invocations, recover_running_invocations
from pynenc.runner.runner_context import RunnerContext
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.util.clock import FakeClock

from . import tasks_for_atomic as t
from .conftest import clocked_app, runner_ctx

S = InvocationStatus
RECOVERER = runner_ctx("recovering-runner")


def submit(app: Pynenc) -> InvocationId:
    return t.bind_add(app)(1, 2).invocation_id


def claim_as(app: Pynenc, ctx: RunnerContext, *statuses: InvocationStatus) -> InvocationId:
    """Submit one invocation, have ``ctx`` claim it from the queue (PENDING), then move it
    through ``statuses`` as its owner."""
    invocation_id = submit(app)
    claimed = app.orchestrator.get_invocations_to_run(1, ctx, timeout=1)
    assert [i.invocation_id for i in claimed] == [invocation_id]
    for status in statuses:
        app.orchestrator.set_invocation_status(invocation_id, status, ctx)
    return invocation_id


def statuses_of(app: Pynenc, invocation_id: InvocationId) -> list[Any]:
    return [h.status_record.status for h in app.state_backend.get_history(invocation_id)]


def queued(app: Pynenc) -> list[InvocationId]:
    return app.broker.retrieve_invocations(10, timeout=0.01)


def test_an_invocation_pending_longer_than_max_pending_seconds_is_requeued(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, max_pending_seconds=5)
    stuck = claim_as(app, runner_ctx("slow-runner"))
    clock.advance(6)
    report = recover_pending_invocations(app, RECOVERER)
    assert report.recovered == [stuck]
    assert statuses_of(app, stuck)[-3:] == [S.PENDING, S.PENDING_RECOVERY, S.REROUTED]
    assert queued(app) == [stuck]
    history = app.state_backend.get_history(stuck)
    assert history[-1].runner_context_id == "recovering-runner"


def test_an_invocation_pending_for_less_than_max_pending_seconds_is_left_alone(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, max_pending_seconds=5)
    fresh = claim_as(app, runner_ctx("busy-runner"))
    clock.advance(4)
    assert recover_pending_invocations(app, RECOVERER).recovered == []
    assert app.orchestrator.get_invocation_status(fresh, use_cache=False) == S.PENDING
    assert queued(app) == []


def test_a_running_invocation_of_a_runner_whose_heartbeat_stopped_is_requeued(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, runner_considered_dead_after_minutes=10)
    orchestrator = app.orchestrator
    orchestrator.register_runner_heartbeats(["dead-runner", "live-runner"])
    orphan = claim_as(app, runner_ctx("dead-runner"), S.RUNNING)
    alive = claim_as(app, runner_ctx("live-runner"), S.RUNNING)
    clock.advance(11 * 60)
    orchestrator.register_runner_heartbeats(["live-runner"])

    report = recover_running_invocations(app, RECOVERER)

    assert report.recovered == [orphan]
    assert statuses_of(app, orphan)[-3:] == [S.RUNNING, S.RUNNING_RECOVERY, S.REROUTED]
    assert orchestrator.get_invocation_status(alive, use_cache=False) == S.RUNNING
    assert queued(app) == [orphan]


def test_a_runner_is_not_dead_before_the_threshold(clock: FakeClock) -> None:
    app = clocked_app(clock, runner_considered_dead_after_minutes=10)
    app.orchestrator.register_runner_heartbeats(["quiet-runner"])
    running = claim_as(app, runner_ctx("quiet-runner"), S.RUNNING)
    clock.advance(9 * 60)
    assert recover_running_invocations(app, RECOVERER).recovered == []
    assert app.orchestrator.get_invocation_status(running, use_cache=False) == S.RUNNING


def test_a_paused_invocation_of_a_dead_runner_is_requeued(clock: FakeClock) -> None:
    app = clocked_app(clock, runner_considered_dead_after_minutes=10)
    app.orchestrator.register_runner_heartbeats(["dead-runner"])
    paused = claim_as(app, runner_ctx("dead-runner"), S.RUNNING, S.PAUSED)
    clock.advance(11 * 60)
    assert recover_running_invocations(app, RECOVERER).recovered == [paused]
    assert statuses_of(app, paused)[-3:] == [S.PAUSED, S.RUNNING_RECOVERY, S.REROUTED]


class ParentRunner(ThreadRunner):
    """A runner whose OS-level check says one child process is alive."""

    def get_active_child_runner_ids(self) -> list[str]:
        return ["child-1"]


def test_the_invocations_of_a_child_whose_parent_heartbeats_for_it_are_left_alone(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, runner_considered_dead_after_minutes=10)
    parent = ParentRunner(app)
    parent._send_heartbeats()
    in_child = claim_as(app, runner_ctx("child-1"), S.RUNNING)
    clock.advance(11 * 60)
    parent._send_heartbeats()
    assert recover_running_invocations(app, RECOVERER).recovered == []
    assert app.orchestrator.get_invocation_status(in_child, use_cache=False) == S.RUNNING


def test_an_invocation_left_in_a_recovery_status_is_requeued_by_the_next_pass(
    clock: FakeClock,
) -> None:
    app = clocked_app(clock, max_pending_seconds=5)
    interrupted = claim_as(app, runner_ctx("slow-runner"))
    app.orchestrator.set_invocation_status(interrupted, S.PENDING_RECOVERY, RECOVERER)
    assert recover_pending_invocations(app, RECOVERER).recovered == [interrupted]
    assert app.orchestrator.get_invocation_status(interrupted, use_cache=False) == S.REROUTED
    assert queued(app) == [interrupted]


def test_a_pass_stops_between_batches_when_asked(clock: FakeClock) -> None:
    app = clocked_app(clock, max_pending_seconds=5)
    stuck = [claim_as(app, runner_ctx("slow-runner")) for _ in range(3)]
    clock.advance(6)

    def one_recovered() -> bool:
        return app.orchestrator.count_invocations().get(S.REROUTED, 0) >= 1

    report = recover_pending_invocations(app, RECOVERER, should_stop=one_recovered, batch_size=1)
    assert not report.completed
    assert report.recovered == stuck[:1]
    assert app.orchestrator.count_invocations()[S.PENDING] == 2


def test_every_stuck_invocation_is_recovered_across_batches(clock: FakeClock) -> None:
    app = clocked_app(clock, max_pending_seconds=5)
    stuck = [claim_as(app, runner_ctx("slow-runner")) for _ in range(5)]
    clock.advance(6)
    report = recover_pending_invocations(app, RECOVERER, batch_size=2)
    assert report.completed
    assert sorted(report.recovered) == sorted(stuck)
