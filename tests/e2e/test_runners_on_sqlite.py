"""Every runner class on the embedded SQLite backend, started from the command line."""

from __future__ import annotations

from collections import Counter

import pytest

from pynenc.invocation.status import ACTIVE_STATUSES, InvocationStatus

from .conftest import E2E, wait_for

pytestmark = pytest.mark.slow

RUNNERS = {
    "ThreadRunner": [("--runner-class", "ThreadRunner", "--max-threads", "4")] * 2,
    "MultiThreadRunner": [("--runner-class", "MultiThreadRunner", "--processes", "2")],
    "PersistentProcessRunner": [("--runner-class", "PersistentProcessRunner", "--processes", "2")],
    "ProcessRunner": [("--runner-class", "ProcessRunner", "--processes", "2")],
}
"""Each case runs its work in two processes: two ThreadRunners, or one runner with two
children."""


def success_count(e2e: E2E, invocation_id: str) -> int:
    history = e2e.app.state_backend.get_history(invocation_id)
    return sum(1 for h in history if h.status_record.status == InvocationStatus.SUCCESS)


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_500_tasks_over_two_processes_succeed_exactly_once(e2e: E2E, runner: str) -> None:
    for options in RUNNERS[runner]:
        e2e.start_runner(*options)
    invocations = [e2e.tasks.square(i) for i in range(500)]
    assert [inv.wait(timeout=180) for inv in invocations] == [i * i for i in range(500)]
    assert all(success_count(e2e, inv.invocation_id) == 1 for inv in invocations)
    pids = {
        ctx.pid
        for inv in invocations[::25]
        for h in e2e.app.state_backend.get_history(inv.invocation_id)
        if h.status_record.status == InvocationStatus.SUCCESS
        and (ctx := e2e.app.state_backend.get_runner_context(h.runner_context_id))
    }
    assert pids, "every success names the runner context that produced it"


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_sigterm_requeues_in_flight_work_and_a_new_runner_finishes_it(
    e2e: E2E, runner: str
) -> None:
    grace = {"PYNENC__GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS": "0.2"}
    first = [e2e.start_runner(*options, **grace) for options in RUNNERS[runner]]
    invocations = [e2e.tasks.slow_square(i, 2.0) for i in range(6)]
    orchestrator = e2e.app.orchestrator

    def running() -> int:
        return orchestrator.count_invocations().get(InvocationStatus.RUNNING, 0)

    wait_for(lambda: running() >= 2, 60, "invocations to be running")
    for process in first:
        assert process.terminate() == 0, process.output()
    counts = orchestrator.count_invocations()
    assert not any(counts.get(s) for s in ACTIVE_STATUSES), f"left active: {counts}"
    assert counts.get(InvocationStatus.SUCCESS, 0) < len(invocations)
    statuses = Counter(
        h.status_record.status
        for inv in invocations
        for h in e2e.app.state_backend.get_history(inv.invocation_id)
    )
    assert statuses[InvocationStatus.REROUTED] >= 2, statuses
    for options in RUNNERS[runner]:
        e2e.start_runner(*options)
    assert [inv.wait(timeout=120) for inv in invocations] == [i * i for i in range(6)]
    assert all(success_count(e2e, inv.invocation_id) == 1 for inv in invocations)


def test_a_parent_waits_on_children_run_by_other_processes(e2e: E2E) -> None:
    e2e.start_runner("--runner-class", "MultiThreadRunner", "--processes", "2")
    assert e2e.tasks.sum_of_squares(30).wait(timeout=60) == sum(i * i for i in range(30))


def test_process_runner_pauses_a_waiting_parent_and_resumes_it(e2e: E2E) -> None:
    e2e.start_runner("--runner-class", "ProcessRunner", "--processes", "1")
    parent = e2e.tasks.sum_of_squares(3)
    assert parent.wait(timeout=60) == 5
    statuses = [
        h.status_record.status for h in e2e.app.state_backend.get_history(parent.invocation_id)
    ]
    assert InvocationStatus.PAUSED in statuses
    assert statuses[-2:] == [InvocationStatus.RUNNING, InvocationStatus.SUCCESS]


@pytest.mark.parametrize("runner", ["MultiThreadRunner", "PersistentProcessRunner"])
def test_a_dead_child_process_is_replaced_and_its_work_finishes(e2e: E2E, runner: str) -> None:
    import os
    import signal

    e2e.start_runner("--runner-class", runner, "--processes", "2")
    state = e2e.app.state_backend

    def children() -> dict[str, int]:
        found = {}
        for info in e2e.app.orchestrator.get_active_runners():
            ctx = state.get_runner_context(info.runner_id)
            if ctx is not None and ctx.parent_ctx is not None:
                found[ctx.runner_id] = ctx.pid
        return found

    wait_for(lambda: len(children()) == 2, 30, "two child runners")
    slow = [e2e.tasks.slow_square(i, 0.5) for i in range(4)]
    wait_for(
        lambda: e2e.app.orchestrator.count_invocations().get(InvocationStatus.RUNNING, 0) >= 1,
        30,
        "work to start",
    )
    before = children()
    victim_pid = next(iter(before.values()))
    os.kill(victim_pid, signal.SIGKILL)
    wait_for(lambda: bool(set(children()) - set(before)), 30, "a replacement child")
    assert [inv.wait(timeout=60) for inv in slow] == [i * i for i in range(4)]
    assert [e2e.tasks.square(i).wait(timeout=60) for i in range(5)] == [i * i for i in range(5)]


def _process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_children_stop_when_their_parent_is_killed(e2e: E2E) -> None:
    import signal

    runner = e2e.start_runner("--runner-class", "MultiThreadRunner", "--processes", "2")
    state = e2e.app.state_backend

    def child_pids() -> list[int]:
        pids = []
        for info in e2e.app.orchestrator.get_active_runners():
            ctx = state.get_runner_context(info.runner_id)
            if ctx is not None and ctx.parent_ctx is not None:
                pids.append(ctx.pid)
        return pids

    wait_for(lambda: len(child_pids()) == 2, 30, "two child runners")
    children = child_pids()
    runner.process.send_signal(signal.SIGKILL)
    runner.process.wait(10)
    wait_for(lambda: all(_process_gone(pid) for pid in children), 30, "the orphans to stop")
