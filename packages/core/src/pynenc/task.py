"""Tasks: functions decorated with ``@app.task``."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic

from pynenc.call import Call
from pynenc.conf.config_task import ConfigTask
from pynenc.exceptions import (
    InvalidCallArgumentsError,
    InvalidTaskOptionsError,
    TaskDefinedInMainError,
)
from pynenc.identifiers.task_id import TaskId
from pynenc.types import Params, Result

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.invocation.base_invocation import BaseInvocation, BaseInvocationGroup
    from pynenc.trigger.builder import TriggerDefinition
    from pynenc.workflow.context import WorkflowContext


class Task(Generic[Params, Result]):
    """A function that runs as invocations on runners.

    Calling the task binds the arguments to the function's signature (a wrong call fails here,
    in the caller, before anything is registered) and returns an invocation.
    """

    def __init__(
        self,
        app: Pynenc,
        func: Callable[Params, Result],
        options: Mapping[str, Any] | None = None,
        is_workflow: bool = False,
    ) -> None:
        if "<locals>" in func.__qualname__:
            raise InvalidTaskOptionsError(
                f"{func.__module__}.{func.__qualname__}",
                f"Task '{func.__qualname__}' is defined inside a function, so runners cannot "
                "import it by name. Define tasks at module level.",
            )
        self.app = app
        self.func = func
        self.is_workflow = is_workflow
        self.task_id = TaskId(func.__module__, func.__qualname__)
        self.options: dict[str, Any] = dict(options or {})
        self.signature = inspect.signature(func)
        self._positional_names = _plain_positional_names(self.signature)
        self.is_async = inspect.iscoroutinefunction(func)
        config_options = {k: v for k, v in self.options.items() if k != "triggers"}
        self.conf = ConfigTask(self.task_id.key, config_options, sources=app.config_sources)
        self._check_key_arguments()
        self.triggers: tuple[TriggerDefinition, ...] = ()
        """What starts this task on its own (the ``triggers=`` option: TriggerBuilder objects)."""
        if self.options.get("triggers") is not None:
            from pynenc.trigger.builder import build_task_triggers

            self.triggers = build_task_triggers(app, self.task_id.key, self.options["triggers"])
        functools.update_wrapper(self, func)

    @property
    def wf(self) -> WorkflowContext:
        """The workflow the running invocation belongs to: identity, durable data, and the
        deterministic operations (``uuid``, ``random``, ``utc_now``, ``execute_task``)."""
        from pynenc.workflow.context import WorkflowContext

        return WorkflowContext(self.app)

    def _check_key_arguments(self) -> None:
        unknown = [k for k in self.conf.key_arguments if k not in self.signature.parameters]
        if unknown:
            raise InvalidTaskOptionsError(
                self.task_id.key,
                f"key_arguments {unknown} of task '{self.task_id}' are not parameters of the "
                f"function; its parameters are {list(self.signature.parameters)}.",
            )

    # ------------------------------------------------------------------ calling

    def bind_arguments(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments by name with defaults applied; a call the signature rejects raises."""
        names = self._positional_names
        if names is not None and not kwargs and len(args) == len(names):
            return dict(zip(names, args, strict=True))  # the common call, without inspect
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidCallArgumentsError(
                self.task_id.key,
                f"Invalid call to task '{self.task_id}{self.signature}': {exc}. Nothing was "
                "registered.",
            ) from exc
        bound.apply_defaults()
        return dict(bound.arguments)

    def __call__(
        self, *args: Params.args, **kwargs: Params.kwargs
    ) -> BaseInvocation[Params, Result]:
        call: Call[Params, Result] = Call(self, self.bind_arguments(args, kwargs))
        if self.app.conf.dev_mode_force_sync_tasks:
            from pynenc.invocation.sync_invocation import SyncInvocation

            return SyncInvocation(call)
        self._check_routable()
        return self.app.orchestrator.route_call(call)

    def parallelize(self, param_iter: Iterable[Any]) -> BaseInvocationGroup[Params, Result]:
        """Call the task once per item (a tuple of positional arguments, a mapping of keyword
        arguments, a :class:`Call`, or a single value for a one-parameter task); registration
        goes in batches of ``parallel_batch_size``."""
        calls = [self._call_from(item) for item in param_iter]
        if self.app.conf.dev_mode_force_sync_tasks:
            from pynenc.invocation.sync_invocation import SyncInvocation, SyncInvocationGroup

            return SyncInvocationGroup([SyncInvocation(call) for call in calls])
        from pynenc.invocation.dist_invocation import (
            DistributedInvocation,
            DistributedInvocationGroup,
        )

        self._check_routable()
        invocations: list[DistributedInvocation[Params, Result]] = []
        size = self.conf.parallel_batch_size
        for start in range(0, len(calls), size):
            invocations.extend(self.app.orchestrator.route_calls(calls[start : start + size]))
        return DistributedInvocationGroup(invocations)

    def _call_from(self, item: object) -> Call[Params, Result]:
        if isinstance(item, Call):
            return item
        if isinstance(item, Mapping):
            return Call(self, self.bind_arguments((), item))
        if isinstance(item, tuple):
            return Call(self, self.bind_arguments(item, {}))
        return Call(self, self.bind_arguments((item,), {}))

    def _check_routable(self) -> None:
        if self.task_id.module == "__main__" and self.app.spans_processes:
            raise TaskDefinedInMainError(self.task_id.key)

    # ------------------------------------------------------------------ running

    def run_function(self, arguments: Mapping[str, Any]) -> Result:
        """Execute the function with stored arguments (``async def`` tasks get an event loop)."""
        func: Callable[..., Any] = self.func
        if self.is_async:
            value: Result = asyncio.run(func(**arguments))
            return value
        result: Result = func(**arguments)
        return result

    def __repr__(self) -> str:
        return f"Task({self.task_id})"

    def __reduce__(self) -> tuple[Any, ...]:
        from pynenc.app import _load_task

        return (_load_task, (self.app.app_id, self.task_id.key))


def _plain_positional_names(signature: inspect.Signature) -> tuple[str, ...] | None:
    """The parameter names of a signature whose parameters are all plain (positional or
    keyword, no ``*args``/``**kwargs``, no keyword-only or positional-only ones): a call that
    passes each of them positionally binds without ``Signature.bind``. None otherwise."""
    parameters = signature.parameters.values()
    if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
        return tuple(signature.parameters)
    return None
