"""ThreadRunner: slots, waiting, stopping without losing work."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner

from . import tasks_for_tests as t
from .conftest import RunningRunner, mem_app


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def statuses_of(app: Pynenc, invocation_id: str) -> list[InvocationStatus]:
    return [h.status_record.status for h in app.state_backend.get_history(invocation_id)]  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def reset_gate() -> None:
    t.gate.clear()


def test_runs_at_most_max_threads_at_once() -> None:
    app = mem_app(max_threads=2)
    blocked = t.bind(app, t.blocked)
    with RunningRunner(ThreadRunner(app)):
        invocations = [blocked(f"slot-{i}") for i in range(4)]
        wait_until(lambda: app.orchestrator.count_invocations().get(InvocationStatus.RUNNING) == 2)
        counts = app.orchestrator.count_invocations()
        assert counts[InvocationStatus.RUNNING] == 2
        assert counts[InvocationStatus.REGISTERED] == 2
        t.gate.set()
        assert sorted(i.result for i in invocations) == [f"slot-{i}" for i in range(4)]


def test_a_waiting_task_gives_its_slot_back() -> None:
    app = mem_app(max_threads=1)
    t.bind(app, t.add)
    parent = t.bind(app, t.sum_of_children)
    with RunningRunner(ThreadRunner(app)):
        assert parent(20).wait(timeout=20) == sum(range(20))


def test_a_short_task_that_blocks_does_not_hold_up_other_work() -> None:
    """Tasks known to be short run in the thread that claims work; when one of them blocks,
    another thread claims for the free slots instead of the queue waiting behind it."""
    app = mem_app(max_threads=4)
    quick = t.bind(app, t.quick_unless)
    with RunningRunner(ThreadRunner(app)):
        for i in range(20):
            assert quick(f"warm-{i}", False).wait(timeout=10) == f"warm-{i}"
        stuck = quick("stuck", True)
        wait_until(lambda: stuck.status == InvocationStatus.RUNNING)
        others = [quick(f"other-{i}", False) for i in range(6)]
        assert [o.wait(timeout=10) for o in others] == [f"other-{i}" for i in range(6)]
        assert stuck.status == InvocationStatus.RUNNING, "still blocked while the others ran"
        t.gate.set()
        assert stuck.wait(timeout=10) == "stuck"


def test_short_tasks_claimed_behind_one_that_blocks_go_to_other_threads() -> None:
    """The claiming thread runs the short tasks it claimed together one after the other; when
    the first of them blocks, those it has not started are handed to pooled threads instead of
    waiting behind it."""
    app = mem_app(max_threads=4)
    quick = t.bind(app, t.quick_unless)
    with RunningRunner(ThreadRunner(app)):
        for i in range(20):
            assert quick(f"warm-{i}", False).wait(timeout=10) == f"warm-{i}"
        group = quick.parallelize([("stuck", True)] + [(f"next-{i}", False) for i in range(3)])
        stuck, *others = group.invocations
        assert [o.wait(timeout=10) for o in others] == [f"next-{i}" for i in range(3)]
        assert stuck.status == InvocationStatus.RUNNING, "still blocked while the others ran"
        t.gate.set()
        assert stuck.wait(timeout=10) == "stuck"


def test_a_task_that_runs_long_is_not_run_by_the_claiming_thread() -> None:
    """Once a task is known to be slow, the thread that claims work hands it to a pooled
    thread: four of them block four threads at once."""
    app = mem_app(max_threads=4)
    blocked = t.bind(app, t.blocked)
    with RunningRunner(ThreadRunner(app)):
        invocations = [blocked(f"slow-{i}") for i in range(4)]
        wait_until(lambda: app.orchestrator.count_invocations().get(InvocationStatus.RUNNING) == 4)
        t.gate.set()
        assert sorted(i.wait(timeout=10) for i in invocations) == [f"slow-{i}" for i in range(4)]


def test_a_deep_chain_finishes_on_two_slots() -> None:
    app = mem_app(max_threads=2)
    chain = t.bind(app, t.chain)
    with RunningRunner(ThreadRunner(app)):
        assert chain(30).wait(timeout=30) == 30


def test_stop_kills_and_reroutes_work_left_after_the_grace_period() -> None:
    app = mem_app(graceful_shutdown_timeout_seconds=0.05)
    blocked = t.bind(app, t.blocked)
    first = ThreadRunner(app)
    with RunningRunner(first):
        invocation = blocked("rerouted")
        wait_until(lambda: invocation.status == InvocationStatus.RUNNING)
    assert statuses_of(app, invocation.invocation_id)[-2:] == [
        InvocationStatus.KILLED,
        InvocationStatus.REROUTED,
    ]
    assert app.broker.count_invocations() == 1
    t.gate.set()
    with RunningRunner(ThreadRunner(app)):
        assert invocation.wait(timeout=10) == "rerouted"


def test_a_late_write_after_losing_ownership_is_refused() -> None:
    app = mem_app(graceful_shutdown_timeout_seconds=0.0)
    blocked = t.bind(app, t.blocked)
    with RunningRunner(ThreadRunner(app)):
        invocation = blocked("late")
        wait_until(lambda: invocation.status == InvocationStatus.RUNNING)
    # The killed thread is still blocked; a second runner now owns and finishes the work.
    second = ThreadRunner(app)
    with RunningRunner(second):
        t.gate.set()
        assert invocation.wait(timeout=10) == "late"
        wait_until(lambda: t.calls["late"] == 2)
    history = app.state_backend.get_history(invocation.invocation_id)
    successes = [h for h in history if h.status_record.status == InvocationStatus.SUCCESS]
    assert len(successes) == 1
    assert successes[0].runner_context_id == second.runner_id


def test_stop_logs_shutdown_diagnostics(caplog: pytest.LogCaptureFixture) -> None:
    app = mem_app()
    runner = ThreadRunner(app)
    app.logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO), RunningRunner(runner):
            wait_until(lambda: runner.running)
    finally:
        app.logger.removeHandler(caplog.handler)
    shutdown = [r.getMessage() for r in caplog.records if "shutting down" in r.getMessage()]
    assert shutdown and runner.runner_id in shutdown[0] and "in_flight" in shutdown[0]


def test_wait_until_stopped_returns_at_once_when_never_started() -> None:
    assert ThreadRunner(mem_app()).wait_until_stopped(0.01)


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading
    sys.path.insert(0, {tests_dir!r})
    from core.conftest import mem_app
    from core import tasks_for_tests as t
    from pynenc.invocation.status import InvocationStatus
    from pynenc.runner.thread_runner import ThreadRunner

    app = mem_app(graceful_shutdown_timeout_seconds=0.05)
    blocked = t.bind(app, t.blocked)
    runner = ThreadRunner(app)

    def client():
        inv = blocked("sigterm")
        while inv.status != InvocationStatus.RUNNING:
            threading.Event().wait(0.005)
        os.kill(os.getpid(), signal.SIGTERM)
        runner.wait_until_stopped(10)
        print("FINAL", app.orchestrator.get_invocation_status(inv.invocation_id, use_cache=False))
        print("QUEUED", app.broker.count_invocations())

    threading.Thread(target=client).start()
    runner.run()
    """
)


def test_sigterm_stops_the_runner_and_requeues_in_flight_work(tmp_path: Path) -> None:
    script = tmp_path / "sigterm_runner.py"
    script.write_text(SIGTERM_SCRIPT.format(tests_dir=str(Path(__file__).parent.parent)))
    src = Path(__file__).parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "FINAL REROUTED" in out.stdout
    assert "QUEUED 1" in out.stdout
    assert "SIGTERM" in out.stderr
