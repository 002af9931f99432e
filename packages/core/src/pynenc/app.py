"""The pynenc app: configuration, the task registry and the components, built lazily."""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from pynenc.conf.config_base import ConfigSources
from pynenc.conf.config_pynenc import ConfigPynenc
from pynenc.exceptions import TaskNotFoundError
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation import context
from pynenc.task import Task
from pynenc.types import Params, Result
from pynenc.util.clock import Clock
from pynenc.util.log import configure_app_logger, format_arguments

if TYPE_CHECKING:
    from pynenc.broker.base_broker import BaseBroker
    from pynenc.client_data_store.base_client_data_store import BaseClientDataStore
    from pynenc.orchestrator.base_orchestrator import BaseOrchestrator
    from pynenc.runner.base_runner import BaseRunner
    from pynenc.runner.runner_context import RunnerContext
    from pynenc.serializer.base_serializer import BaseSerializer
    from pynenc.state_backend.base_state_backend import BaseStateBackend
    from pynenc.trigger.base_trigger import BaseTrigger

C = TypeVar("C")

_COMPONENT_FIELDS = {
    "orchestrator": "orchestrator_cls",
    "broker": "broker_cls",
    "state_backend": "state_backend_cls",
    "trigger": "trigger_cls",
    "client_data_store": "client_data_store_cls",
    "serializer": "serializer_cls",
}


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the state backend keeps about an app so tools can find and describe it."""

    app_id: str
    module: str | None = None
    components: dict[str, str] = field(default_factory=dict)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> str:
        return json.dumps(
            {
                "app_id": self.app_id,
                "module": self.module,
                "components": self.components,
                "updated_at": self.updated_at.isoformat(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data: str) -> AppInfo:
        raw = json.loads(data)
        return cls(
            app_id=raw["app_id"],
            module=raw.get("module"),
            components=dict(raw.get("components") or {}),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
        )


class Pynenc:
    """A pynenc application.

    ``Pynenc(config_values=None, config_filepath=None)`` reads its configuration (see
    :mod:`pynenc.conf`) at once; each component (orchestrator, broker, state backend, trigger,
    client data store, serializer) is built the first time it is used, from its ``*_cls``
    config field.
    """

    def __init__(
        self,
        app_id: str | None = None,
        config_values: Mapping[str, Any] | None = None,
        config_filepath: str | None = None,
    ) -> None:
        values = dict(config_values or {})
        if app_id is not None:
            values["app_id"] = app_id
        self.config_values = values
        self.config_filepath = config_filepath
        self.config_sources = ConfigSources.load(values, config_filepath)
        self.conf = ConfigPynenc(sources=self.config_sources)
        self.clock: Clock = Clock()
        self.module = _caller_module()
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._components: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._runner: BaseRunner | None = None
        self._app_info_stored = False
        self._logger: logging.Logger | None = None

    @property
    def app_id(self) -> str:
        return self.conf.app_id

    @property
    def logger(self) -> logging.Logger:
        """This app's logger, ``pynenc.app.<app_id>``, configured from the logging fields of
        :attr:`conf` on first use (see :mod:`pynenc.util.log`)."""
        configured = self._logger
        if configured is None:
            with self._lock:
                if self._logger is None:
                    self._logger = configure_app_logger(self.conf)
                configured = self._logger
        return configured

    def __repr__(self) -> str:
        return f"Pynenc(app_id={self.app_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by reference: a child process rebuilds the app from its module (the same
        instance the user defined, with its tasks) or, failing that, from its configuration."""
        return (
            _rebuild_app,
            (self.module, self.app_id, self.config_values, self.config_filepath),
        )

    # ------------------------------------------------------------------ components

    def _component(self, kind: str) -> Any:
        component = self._components.get(kind)
        if component is not None:
            return component
        with self._lock:
            component = self._components.get(kind)
            if component is None:
                component = self.build_component(kind)
                self._components[kind] = component
        return component

    def component_class(self, kind: str) -> type[Any]:
        """The class the ``*_cls`` config field selects for ``kind``."""
        from pynenc.plugins.registry import get_registry

        field_name = _COMPONENT_FIELDS[kind]
        return get_registry().resolve(kind, getattr(self.conf, field_name), field_name)

    def build_component(self, kind: str) -> Any:
        cls = self.component_class(kind)
        return cls() if kind == "serializer" else cls(self)

    @property
    def orchestrator(self) -> BaseOrchestrator:
        found = self._components.get("orchestrator")  # built already: the hot path
        if found is None:
            found = self._component("orchestrator")
        return cast("BaseOrchestrator", found)

    @property
    def broker(self) -> BaseBroker:
        found = self._components.get("broker")  # built already: the hot path
        if found is None:
            found = self._component("broker")
        return cast("BaseBroker", found)

    @property
    def state_backend(self) -> BaseStateBackend:
        found = self._components.get("state_backend")  # built already: the hot path
        if found is None:
            found = self._component("state_backend")
        return cast("BaseStateBackend", found)

    @property
    def trigger(self) -> BaseTrigger:
        found = self._components.get("trigger")  # built already: the hot path
        if found is None:
            found = self._component("trigger")
        return cast("BaseTrigger", found)

    @property
    def client_data_store(self) -> BaseClientDataStore:
        found = self._components.get("client_data_store")  # built already: the hot path
        if found is None:
            found = self._component("client_data_store")
        return cast("BaseClientDataStore", found)

    @property
    def serializer(self) -> BaseSerializer:
        found = self._components.get("serializer")  # built already: the hot path
        if found is None:
            found = self._component("serializer")
        return cast("BaseSerializer", found)

    def open_connections(self) -> None:
        """Build the components a runner uses and let each open its connections in this
        process (see :meth:`BaseOrchestrator.open_connections`)."""
        for component in (self.orchestrator, self.broker, self.state_backend):
            component.open_connections()

    @property
    def spans_processes(self) -> bool:
        """True when the components can be shared by several processes (not memory-only)."""
        return any(
            getattr(self.component_class(kind), "cross_process", True)
            for kind in ("orchestrator", "broker", "state_backend")
        )

    # ------------------------------------------------------------------ runners

    @property
    def runner(self) -> BaseRunner:
        """The runner working in the current thread, else this process's runner, else a
        client-side runner that only waits."""
        current = context.current_runner.get()
        if current is not None:
            return current
        if self._runner is None:
            with self._lock:
                if self._runner is None:
                    from pynenc.runner.base_runner import ExternalRunner

                    self._runner = ExternalRunner(self)
        return self._runner

    @runner.setter
    def runner(self, runner: BaseRunner) -> None:
        self._runner = runner

    def current_runner_context(self) -> RunnerContext:
        ctx = context.current_runner_context.get()
        return ctx if ctx is not None else self.runner.runner_context

    # ------------------------------------------------------------------ tasks

    @overload
    def task(self, func: Callable[Params, Result], /) -> Task[Params, Result]: ...

    @overload
    def task(
        self, func: None = None, /, **options: Any
    ) -> Callable[[Callable[Params, Result]], Task[Params, Result]]: ...

    def task(
        self, func: Callable[Params, Result] | None = None, /, **options: Any
    ) -> Task[Params, Result] | Callable[[Callable[Params, Result]], Task[Params, Result]]:
        """Decorate a function as a task: ``@app.task`` or ``@app.task(max_retries=3, ...)``.

        Options are validated here (see :class:`pynenc.conf.config_task.ConfigTask`).
        """

        def decorate(f: Callable[Params, Result]) -> Task[Params, Result]:
            return self._register(Task(self, f, options))

        return decorate(func) if func is not None else decorate

    @overload
    def workflow(self, func: Callable[Params, Result], /) -> Task[Params, Result]: ...

    @overload
    def workflow(
        self, func: None = None, /, **options: Any
    ) -> Callable[[Callable[Params, Result]], Task[Params, Result]]: ...

    def workflow(
        self, func: Callable[Params, Result] | None = None, /, **options: Any
    ) -> Task[Params, Result] | Callable[[Callable[Params, Result]], Task[Params, Result]]:
        """Decorate a workflow task: its invocation id is the workflow id of what it calls
        (tasks it calls belong to the workflow; ``task.wf`` gives its identity, durable data
        and deterministic operations)."""

        def decorate(f: Callable[Params, Result]) -> Task[Params, Result]:
            return self._register(Task(self, f, options, is_workflow=True))

        return decorate(func) if func is not None else decorate

    def _register(self, task: Task[Params, Result]) -> Task[Params, Result]:
        self._tasks[task.task_id.key] = task
        return task

    @property
    def tasks(self) -> dict[str, Task[Any, Any]]:
        return dict(self._tasks)

    def get_task(self, task_id: TaskId) -> Task[Any, Any]:
        """The task with this id, importing its module if this process has not yet."""
        task = self._tasks.get(task_id.key)
        if task is not None:
            return task
        try:
            module = importlib.import_module(task_id.module)
        except ImportError as exc:
            raise TaskNotFoundError(
                task_id.key,
                f"Cannot import module '{task_id.module}' of task '{task_id}': {exc}. Make the "
                "module importable where the runner runs (same code, PYTHONPATH).",
            ) from exc
        found: Any = module
        for part in task_id.func_name.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, Task):
            raise TaskNotFoundError(
                task_id.key,
                f"Module '{task_id.module}' has no task '{task_id.func_name}'. Is the runner "
                "running the same version of the code as the caller?",
            )
        task = (
            found if found.app is self else Task(self, found.func, found.options, found.is_workflow)
        )
        self._tasks[task_id.key] = task
        return task

    # ------------------------------------------------------------------ maintenance

    def purge(self) -> None:
        """Delete everything every component stores for this app id."""
        for kind in ("broker", "orchestrator", "state_backend", "trigger", "client_data_store"):
            self._component(kind).purge()
        self._app_info_stored = False

    def app_info(self) -> AppInfo:
        return AppInfo(
            app_id=self.app_id,
            module=self.module,
            components={f: str(getattr(self.conf, f)) for f in _COMPONENT_FIELDS.values()},
            updated_at=self.clock.now(),
        )

    def store_app_info(self) -> None:
        """Register this app in its state backend (once per process) for discovery tools."""
        if not self._app_info_stored:
            self.state_backend.store_app_info(self.app_info())
            self._app_info_stored = True

    def format_arguments(self, arguments: Mapping[str, Any]) -> str:
        """Arguments as logs show them, per ``print_arguments`` and ``argument_print_mode``
        (``...`` when they are hidden)."""
        return format_arguments(arguments, self.conf)


def _caller_module() -> str | None:
    frame = sys._getframe(2)
    return frame.f_globals.get("__name__") if frame else None


def _rebuild_app(
    module: str | None,
    app_id: str,
    config_values: dict[str, Any],
    config_filepath: str | None,
) -> Pynenc:
    """Find the app instance defined in ``module`` (by app id), else build an equivalent one."""
    if module and module != "__main__":
        try:
            namespace = vars(importlib.import_module(module))
        except ImportError:
            namespace = {}
        for value in namespace.values():
            if isinstance(value, Pynenc) and value.app_id == app_id:
                return value
    return Pynenc(config_values=config_values, config_filepath=config_filepath)


def _load_task(app_id: str, task_key: str) -> Task[Any, Any]:
    """Rebuild a pickled task reference by importing it."""
    task_id = TaskId.from_key(task_key)
    module = importlib.import_module(task_id.module)
    found: Any = module
    for part in task_id.func_name.split("."):
        found = getattr(found, part)
    if not isinstance(found, Task):
        raise TaskNotFoundError(task_key, f"'{task_key}' is not a pynenc task")
    return found
