"""The fluent builder that declares triggers, and the trigger definitions it builds.

::

    @app.task(triggers=TriggerBuilder().on_event("order.paid").with_args_from_event())
    def ship(order_id: int) -> None: ...

A task takes one builder or a list of them (each list item is a separate trigger). A builder
holds conditions (combined with OR by default, or AND with ``with_logic("and")``) and argument
providers, applied in order, later keys winning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynenc.exceptions import InvalidTriggerError
from pynenc.invocation.status import InvocationStatus
from pynenc.trigger.conditions import (
    ANY_RESULT,
    ArgumentFilterSpec,
    CompositeLogic,
    ConditionKind,
    CronCondition,
    EventCondition,
    EventContext,
    ExceptionCondition,
    ExceptionContext,
    ResultCondition,
    ResultContext,
    ResultFilter,
    StatusCondition,
    StatusContext,
    TriggerCondition,
    TriggerContext,
    callable_ref,
    digest,
)

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.task import Task

ContextMapper = Callable[[Any], Mapping[str, Any]]


class ArgumentProvider:
    """Computes (part of) the arguments of the triggered call from why it fired."""

    def __init__(
        self, label: str, compute: Callable[[TriggerContext], Mapping[str, Any]], ref: str
    ) -> None:
        self.label = label
        self._compute = compute
        self.ref = ref

    def __call__(self, context: TriggerContext) -> dict[str, Any]:
        values = self._compute(context)
        if not isinstance(values, Mapping):
            raise InvalidTriggerError(
                f"Argument provider {self.label} ({self.ref}) returned "
                f"{type(values).__name__}; it must return a dict of argument values."
            )
        return dict(values)

    def describe(self) -> dict[str, str]:
        return {"provider": self.label, "ref": self.ref}


def _static(values: Mapping[str, Any]) -> ArgumentProvider:
    frozen = dict(values)
    return ArgumentProvider("static", lambda _: frozen, repr(sorted(frozen)))


def _from_context(
    kind: ConditionKind,
    context_type: type[Any],
    mapper: ContextMapper | str | None,
    default: Callable[[Any], Mapping[str, Any]] | None,
    main_value: Callable[[Any], Any],
) -> ArgumentProvider:
    """Arguments from the context of the first ``kind`` condition that fired: ``mapper(ctx)``,
    ``{mapper: main value}`` for a parameter name, or ``default(ctx)`` when None."""
    if mapper is None:
        if default is None:
            raise InvalidTriggerError(
                f"with_args_from_{kind.value}() needs a callable (context -> dict) or the name "
                f"of the parameter that receives the {kind.value}."
            )
        compute_one: Callable[[Any], Mapping[str, Any]] = default
        ref = "default"
    elif isinstance(mapper, str):
        name = mapper

        def compute_one(ctx: Any) -> Mapping[str, Any]:
            return {name: main_value(ctx)}

        ref = f"parameter:{name}"
    elif callable(mapper):
        compute_one = mapper
        ref = callable_ref(mapper)
    else:
        raise InvalidTriggerError(
            f"with_args_from_{kind.value}() takes a callable or a parameter name, not "
            f"{type(mapper).__name__}."
        )

    def compute(context: TriggerContext) -> Mapping[str, Any]:
        found = context.first(context_type)
        return {} if found is None else compute_one(found)

    return ArgumentProvider(f"from_{kind.value}", compute, ref)


def _statuses(statuses: Any) -> frozenset[InvocationStatus]:
    items = [statuses] if isinstance(statuses, str | InvocationStatus) else list(statuses)
    try:
        return frozenset(InvocationStatus(str(s).upper()) for s in items)
    except ValueError as exc:
        raise InvalidTriggerError(
            f"Unknown invocation status in {statuses!r}; use InvocationStatus members "
            f"({', '.join(InvocationStatus)})."
        ) from exc


def _exception_names(exception_types: Any) -> tuple[str, ...]:
    if exception_types is None:
        return ()
    items = [exception_types] if isinstance(exception_types, str | type) else exception_types
    names: list[str] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, BaseException):
            names.append(f"{item.__module__}.{item.__qualname__}")
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            raise InvalidTriggerError(
                f"on_exception() takes exception classes or their names, not {item!r}."
            )
    return tuple(names)


@dataclass(frozen=True)
class _TaskConditionSpec:
    """A condition on another task, made once the task reference is resolved at build time."""

    make: Callable[[str], TriggerCondition]
    task: object


class TriggerBuilder:
    """Declares one trigger: its conditions, how they combine, and the call's arguments."""

    def __init__(self) -> None:
        self._conditions: list[TriggerCondition | _TaskConditionSpec] = []
        self.logic = CompositeLogic.OR
        self.providers: list[ArgumentProvider] = []

    # ---- conditions

    def on_cron(self, cron_expression: str) -> TriggerBuilder:
        """At every tick of ``cron_expression`` (UTC; 5 fields, or 6 with seconds last)."""
        self._conditions.append(CronCondition(cron_expression))
        return self

    def on_event(
        self, event_code: str, payload_filter: ArgumentFilterSpec = None
    ) -> TriggerBuilder:
        """At every event ``event_code`` whose payload matches ``payload_filter`` (a dict of
        expected values or a predicate on the payload)."""
        self._conditions.append(EventCondition(event_code, payload_filter))
        return self

    def on_status(
        self,
        task: Task[Any, Any] | str,
        statuses: InvocationStatus | str | Iterable[InvocationStatus | str] = (
            InvocationStatus.SUCCESS
        ),
        call_arguments: ArgumentFilterSpec = None,
    ) -> TriggerBuilder:
        """When an invocation of ``task`` reaches one of ``statuses``."""
        chosen = _statuses(statuses)
        self._conditions.append(
            _TaskConditionSpec(lambda key: StatusCondition(key, chosen, call_arguments), task)
        )
        return self

    def on_any_result(
        self, task: Task[Any, Any] | str, call_arguments: ArgumentFilterSpec = None
    ) -> TriggerBuilder:
        """When an invocation of ``task`` returns, whatever its result."""
        return self.on_result(task, ANY_RESULT, call_arguments)

    def on_result(
        self,
        task: Task[Any, Any] | str,
        filter_result: Any,
        call_arguments: ArgumentFilterSpec = None,
    ) -> TriggerBuilder:
        """When an invocation of ``task`` returns a result equal to ``filter_result`` (or
        accepted by it, when it is a callable)."""
        result_filter = ResultFilter(filter_result)
        self._conditions.append(
            _TaskConditionSpec(
                lambda key: ResultCondition(key, result_filter, call_arguments), task
            )
        )
        return self

    def on_exception(
        self,
        task: Task[Any, Any] | str,
        exception_types: type[BaseException] | str | Sequence[type[BaseException] | str] | None = (
            None
        ),
        call_arguments: ArgumentFilterSpec = None,
    ) -> TriggerBuilder:
        """When an invocation of ``task`` fails (finally, after its retries) with one of
        ``exception_types`` or a subclass; with any exception when None."""
        names = _exception_names(exception_types)
        self._conditions.append(
            _TaskConditionSpec(lambda key: ExceptionCondition(key, names, call_arguments), task)
        )
        return self

    def with_logic(self, logic: CompositeLogic | str) -> TriggerBuilder:
        """OR (default): fire on each satisfied condition. AND: fire once every condition was
        satisfied since the trigger last fired."""
        try:
            self.logic = CompositeLogic(str(logic).lower())
        except ValueError as exc:
            raise InvalidTriggerError(
                f"Trigger logic must be 'and' or 'or', not {logic!r}."
            ) from exc
        return self

    # ---- arguments

    def with_args_static(self, arguments: Mapping[str, Any]) -> TriggerBuilder:
        """Always pass these arguments."""
        if not isinstance(arguments, Mapping):
            raise InvalidTriggerError("with_args_static() takes a dict of argument values.")
        self.providers.append(_static(arguments))
        return self

    with_arguments = with_args_static

    def with_args_from_event(self, mapper: ContextMapper | str | None = None) -> TriggerBuilder:
        """Arguments from the event: ``mapper(EventContext)``, the payload as one parameter
        (a parameter name), or, by default, the payload's keys as keyword arguments."""
        self.providers.append(
            _from_context(
                ConditionKind.EVENT,
                EventContext,
                mapper,
                lambda ctx: dict(ctx.payload),
                lambda ctx: ctx.payload,
            )
        )
        return self

    def with_args_from_status(self, mapper: ContextMapper | str) -> TriggerBuilder:
        """Arguments from the status change: ``mapper(StatusContext)`` or, for a parameter
        name, the status reached."""
        self.providers.append(
            _from_context(ConditionKind.STATUS, StatusContext, mapper, None, lambda ctx: ctx.status)
        )
        return self

    def with_args_from_result(self, mapper: ContextMapper | str) -> TriggerBuilder:
        """Arguments from the result: ``mapper(ResultContext)`` or, for a parameter name, the
        result itself."""
        self.providers.append(
            _from_context(ConditionKind.RESULT, ResultContext, mapper, None, lambda ctx: ctx.result)
        )
        return self

    def with_args_from_exception(self, mapper: ContextMapper | str) -> TriggerBuilder:
        """Arguments from the failure: ``mapper(ExceptionContext)`` or, for a parameter name,
        the exception's message."""
        self.providers.append(
            _from_context(
                ConditionKind.EXCEPTION, ExceptionContext, mapper, None, lambda ctx: ctx.message
            )
        )
        return self

    def with_args(self, compute: Callable[[TriggerContext], Mapping[str, Any]]) -> TriggerBuilder:
        """Arguments computed from everything that fired the trigger."""
        if not callable(compute):
            raise InvalidTriggerError("with_args() takes a callable (TriggerContext -> dict).")
        self.providers.append(ArgumentProvider("computed", compute, callable_ref(compute)))
        return self

    # ---- building

    def build(self, app: Pynenc, task_id: str) -> TriggerDefinition:
        """The definition of this trigger for task ``task_id``; task references are resolved
        (an unknown task fails here, when the triggered task is declared)."""
        if not self._conditions:
            raise InvalidTriggerError(
                f"The trigger of task '{task_id}' has no condition: add on_cron(), on_event(), "
                "on_status(), on_result() or on_exception()."
            )
        conditions: list[TriggerCondition] = []
        for item in self._conditions:
            if isinstance(item, TriggerCondition):
                conditions.append(item)
            else:
                conditions.append(item.make(resolve_task_id(app, item.task, task_id)))
        unique = tuple(dict.fromkeys(conditions))
        description = {
            "task": task_id,
            "logic": self.logic.value,
            "conditions": [c.condition_id for c in unique],
            "arguments": [p.describe() for p in self.providers],
        }
        return TriggerDefinition(
            trigger_id=f"{task_id}:{digest(description)}",
            task_id=task_id,
            conditions=unique,
            logic=self.logic,
            providers=tuple(self.providers),
        )


@dataclass(frozen=True)
class TriggerDefinition:
    """A trigger of one task: when it fires and with which arguments."""

    trigger_id: str
    task_id: str
    conditions: tuple[TriggerCondition, ...]
    logic: CompositeLogic
    providers: tuple[ArgumentProvider, ...] = ()

    @property
    def condition_ids(self) -> list[str]:
        return [c.condition_id for c in self.conditions]

    @property
    def requires_all(self) -> bool:
        """AND logic over more than one condition: it waits until all were satisfied."""
        return self.logic is CompositeLogic.AND and len(self.conditions) > 1

    def arguments(self, context: TriggerContext) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for provider in self.providers:
            values.update(provider(context))
        return values

    def describe(self) -> dict[str, Any]:
        return {
            "trigger_id": self.trigger_id,
            "task": self.task_id,
            "logic": self.logic.value,
            "conditions": self.condition_ids,
            "arguments": [p.describe() for p in self.providers],
        }


def resolve_task_id(app: Pynenc, ref: object, triggered: str) -> str:
    """The id of the task ``ref`` names; a task that cannot be found fails with the reason."""
    task_id = getattr(ref, "task_id", None)
    if task_id is not None and hasattr(task_id, "key"):
        return str(task_id.key)
    if not isinstance(ref, str) or "." not in ref:
        raise InvalidTriggerError(
            f"The trigger of '{triggered}' watches {ref!r}, which is not a task: pass the task "
            "object or its id 'module.function'."
        )
    if ref in app.tasks or ref == triggered:
        return ref
    module_name, _, name = ref.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidTriggerError(
            f"The trigger of '{triggered}' watches unknown task '{ref}': module "
            f"'{module_name}' cannot be imported ({exc})."
        ) from exc
    found = getattr(module, name, None)
    if getattr(found, "task_id", None) is None:
        known = sorted(app.tasks)
        raise InvalidTriggerError(
            f"The trigger of '{triggered}' watches unknown task '{ref}': module "
            f"'{module_name}' has no task '{name}'. Known tasks: {', '.join(known) or 'none'}."
        )
    return ref


def build_task_triggers(
    app: Pynenc, task_id: str, triggers: TriggerBuilder | Sequence[TriggerBuilder] | None
) -> tuple[TriggerDefinition, ...]:
    """The definitions of the ``triggers=`` option of a task (one per builder)."""
    if triggers is None:
        return ()
    builders = [triggers] if isinstance(triggers, TriggerBuilder) else list(triggers)
    for builder in builders:
        if not isinstance(builder, TriggerBuilder):
            raise InvalidTriggerError(
                f"The triggers= option of task '{task_id}' takes TriggerBuilder objects, not "
                f"{type(builder).__name__}."
            )
    definitions = (builder.build(app, task_id) for builder in builders)
    return tuple({d.trigger_id: d for d in definitions}.values())
