"""Triggers and workflows with two runner processes on SQLite, started from the command line:
a seconds-level cron fires once per tick, an event fans out once to each listening task, and a
workflow whose runner is SIGKILLed mid-way completes on the other runner without re-running the
children that had finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pynenc.invocation.status import InvocationStatus
from pynenc.orchestrator.base_orchestrator import InvocationQuery

from .conftest import E2E, HERE, PYNENC, RunnerProcess, wait_for

pytestmark = pytest.mark.slow

S = InvocationStatus

FAST_SERVICES = {
    "PYNENC__TRIGGER_TASK_MODULES": "e2e_trigger_tasks",
    "PYNENC__ATOMIC_SERVICE_INTERVAL_MINUTES": "0.05",
    "PYNENC__ATOMIC_SERVICE_CHECK_INTERVAL_MINUTES": "0.002",
    "PYNENC__ATOMIC_SERVICE_SPREAD_MARGIN_MINUTES": "0.002",
    "PYNENC__TRIGGER_LOOP_INTERVAL_SECONDS": "0.1",
    "PYNENC__RUNNER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
    "PYNENC__RUNNER_CONSIDERED_DEAD_AFTER_MINUTES": "0.05",
    "PYNENC__RECOVER_RUNNING_INVOCATIONS_CRON": "* * * * * *",
    "PYNENC__MAX_THREADS": "4",
}
"""Atomic-service slots of 1.5 s shared by two runners, trigger passes every 0.1 s, and a runner
silent for 3 s is dead and its invocations recovered within a second."""


class TriggerRunnerProcess(RunnerProcess):
    """``pynenc --app e2e_trigger_tasks:app runner start`` in a subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(PYNENC), "--app", "e2e_trigger_tasks:app", "runner", "start"],
            cwd=HERE,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def tasks(e2e: E2E) -> ModuleType:
    sys.modules.pop("e2e_trigger_tasks", None)
    import e2e_trigger_tasks

    yield e2e_trigger_tasks
    sys.modules.pop("e2e_trigger_tasks", None)


def start_runners(e2e: E2E, count: int = 2) -> list[RunnerProcess]:
    started: list[RunnerProcess] = []
    for index in range(count):
        runner = TriggerRunnerProcess(
            {**e2e.env, **FAST_SERVICES}, e2e.tmp_path / f"trigger-runner-{index}.log"
        )
        e2e.runners.append(runner)
        started.append(runner)
    for runner in started:
        wait_for(
            lambda r=runner: "started with" in r.output() or r.process.poll() is not None,
            60,
            "a runner to start",
        )
        assert runner.process.poll() is None, runner.output()
    return started


def invocations_of(app: Any, task: Any) -> list[Any]:
    ids = list(
        app.orchestrator.iter_invocations(InvocationQuery(task_ids=frozenset({task.task_id.key})))
    )
    return app.state_backend.get_invocations(ids)


def successes(app: Any, invocation_id: str) -> int:
    return sum(
        h.status_record.status == S.SUCCESS for h in app.state_backend.get_history(invocation_id)
    )


def test_a_seconds_cron_fires_once_per_tick_across_two_runners(e2e: E2E, tasks: ModuleType) -> None:
    start_runners(e2e)
    app = tasks.app
    wait_for(lambda: len(invocations_of(app, tasks.on_tick)) >= 5, 60, "five cron firings")
    fired = invocations_of(app, tasks.on_tick)
    ticks = [tasks.parse_tick(inv.call.arguments["tick"]) for inv in fired]
    duplicates = [tick for tick, count in Counter(ticks).items() if count > 1]
    assert not duplicates, f"a tick fired more than once across two runners: {duplicates}"
    assert all(tick.second % 2 == 0 and tick.microsecond == 0 for tick in ticks)
    assert len(fired) >= 5


def test_an_event_fans_out_once_to_each_listening_task(e2e: E2E, tasks: ModuleType) -> None:
    start_runners(e2e)
    app = tasks.app
    event_id = app.trigger.emit_event("e2e.signup", {"user": "ada"})
    wait_for(lambda: len(app.trigger.get_invocations_for_event(event_id)) >= 2, 60, "fan-out")
    created = app.state_backend.get_invocations(app.trigger.get_invocations_for_event(event_id))
    assert sorted(inv.wait(timeout=60) for inv in created) == ["ada", "welcome ada"]
    assert len(invocations_of(app, tasks.send_welcome)) == 1
    assert len(invocations_of(app, tasks.count_signup)) == 1


def test_a_workflow_whose_runner_is_killed_completes_without_rerunning_finished_children(
    e2e: E2E, tasks: ModuleType
) -> None:
    runners = start_runners(e2e)
    app = tasks.app
    gate = e2e.tmp_path / "gate"
    workflow = tasks.five_squares(str(gate))
    backend = app.state_backend

    def children() -> list[str]:
        return list(backend.get_workflow_sub_invocations(workflow.invocation_id))

    def finished_children() -> int:
        return len(app.orchestrator.get_final_records(children()))

    wait_for(lambda: finished_children() == 3, 60, "three children to finish")
    owner = app.orchestrator.get_invocation_status_record(workflow.invocation_id, False).owner_id
    context = backend.get_runner_context(owner) if owner else None
    assert context is not None, "the running workflow names its runner"
    [victim] = [r for r in runners if r.process.pid == context.pid]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(30)
    gate.touch()

    assert workflow.wait(timeout=120) == [0, 1, 4, 9, 16]
    child_ids = children()
    assert len(child_ids) == 5, "replay must reuse the recorded children, not register new ones"
    first_three = [inv for inv in backend.get_invocations(child_ids) if inv.call.arguments["x"] < 3]
    for child in first_three:
        statuses = [h.status_record.status for h in backend.get_history(child.invocation_id)]
        assert statuses.count(S.RUNNING) == 1, f"child {child.call.arguments} ran again: {statuses}"
    history = [h.status_record.status for h in backend.get_history(workflow.invocation_id)]
    assert S.RUNNING_RECOVERY in history and history.count(S.RUNNING) == 2, history
    assert successes(app, workflow.invocation_id) == 1
