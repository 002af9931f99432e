"""Cycle control: a call that would wait on itself fails instead of deadlocking."""

from __future__ import annotations

import pytest

from pynenc.exceptions import CycleDetectedError
from pynenc.runner.thread_runner import ThreadRunner

from . import tasks_for_tests as t
from .conftest import RunningRunner, mem_app


def test_a_call_repeating_an_ancestor_raises_naming_the_chain() -> None:
    app = mem_app()
    ping = t.bind(app, t.ping)
    t.bind(app, t.pong)
    with RunningRunner(ThreadRunner(app)), pytest.raises(CycleDetectedError) as info:
        ping(1).wait(timeout=10)
    chain = info.value.chain
    assert chain[0].startswith(f"{__package__}.tasks_for_tests.ping(")
    assert chain[1].startswith(f"{__package__}.tasks_for_tests.pong(")
    assert chain[-1] == f"{__package__}.tasks_for_tests.ping"


def test_the_same_task_with_other_arguments_is_not_a_cycle() -> None:
    app = mem_app(max_threads=2)
    chain = t.bind(app, t.chain)
    with RunningRunner(ThreadRunner(app)):
        assert chain(5).wait(timeout=10) == 5


def test_cycle_control_can_be_switched_off() -> None:
    app = mem_app(cycle_control=False)
    task = t.bind(app, t.call_self_once)
    with RunningRunner(ThreadRunner(app)):
        assert task("switched-off").wait(timeout=10) == "outer:inner"
