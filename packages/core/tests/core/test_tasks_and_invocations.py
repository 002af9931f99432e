"""Calling tasks, waiting for results, and what the backends record."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.exceptions import (
    InvalidCallArgumentsError,
    InvalidTaskOptionsError,
    InvocationTimeoutError,
    SerializationError,
    TaskDefinedInMainError,
)
from pynenc.invocation.dist_invocation import DistributedInvocation
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner

from . import tasks_for_tests as t
from .conftest import mem_app


def test_calling_a_task_registers_an_invocation(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    invocation = add(1, 2)
    assert isinstance(invocation, DistributedInvocation)
    assert invocation.status == InvocationStatus.REGISTERED
    assert app.broker.count_invocations() == 1
    stored = app.state_backend.get_invocation(invocation.invocation_id)
    assert stored.call.arguments == {"x": 1, "y": 2}


def test_arguments_are_bound_with_defaults(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    assert add(1).call.arguments == {"x": 1, "y": 10}
    assert add(1).call.call_id == add(x=1, y=10).call.call_id


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [
        (t.add, (1, 2), {}),
        (t.add, (1,), {}),
        (t.add, (), {"x": 1}),
        (t.add, (1,), {"y": 3}),
        (t.add, (1, 2, 3), {}),
        (t.add, (), {}),
        (t.keyword_only, (4,), {}),
        (t.keyword_only, (4,), {"scale": 3}),
        (t.keyword_only, (4, 5), {}),
        (t.variadic, (1, 2), {"z": 3}),
        (t.variadic, (), {}),
    ],
)
def test_binding_matches_the_signature_for_every_kind_of_call(
    app: Pynenc, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Plain positional calls take a fast path; it must bind exactly as the signature does."""
    task = t.bind(app, func)
    signature = inspect.signature(func)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        with pytest.raises(InvalidCallArgumentsError):
            task.bind_arguments(args, kwargs)
        return
    bound.apply_defaults()
    assert task.bind_arguments(args, kwargs) == dict(bound.arguments)


def test_a_wrong_call_fails_in_the_caller_and_registers_nothing(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    with pytest.raises(InvalidCallArgumentsError, match="unexpected keyword argument 'z'"):
        add(1, z=3)  # type: ignore[call-arg]
    assert app.broker.count_invocations() == 0
    assert app.orchestrator.count_invocations() == {}


def test_a_non_serializable_argument_is_refused_before_registration(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    with pytest.raises(SerializationError, match="Argument 'x'"):
        add(object())  # type: ignore[arg-type]
    assert app.orchestrator.count_invocations() == {}


def test_result_runs_the_task_on_a_runner(app: Pynenc, running: ThreadRunner) -> None:
    add = t.bind(app, t.add)
    assert add(2, 3).result == 5


def test_result_reraises_the_task_exception_with_its_type(
    app: Pynenc, running: ThreadRunner
) -> None:
    fail = t.bind(app, t.fail)
    invocation = fail("boom")
    with pytest.raises(KeyError, match="boom"):
        invocation.result
    assert invocation.status == InvocationStatus.FAILED


def test_async_result_awaits_the_value(app: Pynenc, running: ThreadRunner) -> None:
    add = t.bind(app, t.add)
    assert asyncio.run(add(4, 4).async_result()) == 8


def test_async_def_tasks_run(app: Pynenc, running: ThreadRunner) -> None:
    double = t.bind(app, t.double)
    assert double(21).result == 42


def test_parallelize_returns_results_in_order(app: Pynenc, running: ThreadRunner) -> None:
    add = t.bind(app, t.add)
    group = add.parallelize([(i, i) for i in range(50)] + [{"x": 1}])
    assert group.results == [2 * i for i in range(50)] + [11]


def test_retries_until_success_within_max_retries(app: Pynenc, running: ThreadRunner) -> None:
    flaky = t.bind(
        app, t.flaky, max_retries=3, retry_for=(ConnectionError,), retry_backoff_base_seconds=0.001
    )
    invocation = flaky("retry-ok", failures=2)
    assert invocation.result == "ok after 3"
    assert invocation.num_retries == 2
    statuses = [
        h.status_record.status for h in app.state_backend.get_history(invocation.invocation_id)
    ]
    assert statuses.count(InvocationStatus.RETRY) == 2
    assert statuses.count(InvocationStatus.SUCCESS) == 1


def test_retries_stop_at_max_retries(app: Pynenc, running: ThreadRunner) -> None:
    flaky = t.bind(
        app, t.flaky, max_retries=1, retry_for=(ConnectionError,), retry_backoff_base_seconds=0.001
    )
    with pytest.raises(ConnectionError, match="attempt 2"):
        flaky("retry-exhausted", failures=5).result


def test_exceptions_outside_retry_for_are_not_retried(app: Pynenc, running: ThreadRunner) -> None:
    flaky = t.bind(app, t.flaky, max_retries=3, retry_for=(ValueError,))
    with pytest.raises(ConnectionError):
        flaky("no-retry", failures=1).result
    assert t.calls["no-retry"] == 1


def test_wait_with_timeout_raises_when_nothing_runs(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    with pytest.raises(InvocationTimeoutError, match=r"not final after 0\.05s"):
        add(1).wait(timeout=0.05)


def test_dev_mode_runs_calls_inline() -> None:
    app = mem_app(dev_mode_force_sync_tasks=True)
    add = t.bind(app, t.add)
    invocation = add(1, 1)
    assert invocation.result == 2
    assert app.orchestrator.count_invocations() == {}
    assert add.parallelize([(1, 2), (3, 4)]).results == [3, 7]


def test_dev_mode_applies_retries() -> None:
    app = mem_app(dev_mode_force_sync_tasks=True)
    flaky = t.bind(app, t.flaky, max_retries=2, retry_for=(ConnectionError,))
    assert flaky("dev-retry", failures=2).result == "ok after 3"


def test_invalid_option_type_fails_at_decoration(app: Pynenc) -> None:
    with pytest.raises(InvalidTaskOptionsError, match="max_retries"):
        app.task(max_retries="many")(t.add)


def test_unknown_option_fails_at_decoration(app: Pynenc) -> None:
    with pytest.raises(InvalidTaskOptionsError, match="max_retrys"):
        app.task(max_retrys=2)(t.add)


def test_key_arguments_must_be_parameters(app: Pynenc) -> None:
    with pytest.raises(InvalidTaskOptionsError, match=r"\['z'\]"):
        app.task(running_concurrency="KEYS", key_arguments=("z",))(t.add)


def test_task_in_main_is_refused_when_runners_are_elsewhere(app: Pynenc, monkeypatch: Any) -> None:
    def script_task() -> None:
        return None

    script_task.__module__ = "__main__"
    script_task.__qualname__ = "script_task"
    task = app.task(script_task)
    monkeypatch.setattr(type(app), "spans_processes", property(lambda self: True))
    with pytest.raises(TaskDefinedInMainError, match="Move the task into a module"):
        task()


def test_tasks_defined_in_functions_are_refused(app: Pynenc) -> None:
    def local_task() -> None:
        return None

    with pytest.raises(InvalidTaskOptionsError, match="inside a function"):
        app.task(local_task)


def test_history_has_one_entry_per_transition(app: Pynenc, running: ThreadRunner) -> None:
    add = t.bind(app, t.add)
    invocation = add(1, 1)
    invocation.result
    history = app.state_backend.get_history(invocation.invocation_id)
    statuses = [h.status_record.status for h in history]
    assert statuses == [
        InvocationStatus.REGISTERED,
        InvocationStatus.PENDING,
        InvocationStatus.RUNNING,
        InvocationStatus.SUCCESS,
    ]
    runner_ctx = app.state_backend.get_runner_context(history[-1].runner_context_id)
    assert runner_ctx is not None and runner_ctx.runner_cls == "ThreadRunner"


def test_purge_forgets_everything_of_the_app(app: Pynenc) -> None:
    add = t.bind(app, t.add)
    invocation = add(1)
    app.purge()
    assert app.broker.count_invocations() == 0
    assert not app.state_backend.invocation_exists(invocation.invocation_id)
