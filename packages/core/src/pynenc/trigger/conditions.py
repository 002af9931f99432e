"""Trigger conditions and the contexts they are satisfied by. Pure logic: no storage, no I/O.

A condition is identified by a digest of its description, so the same declaration gets the same
``condition_id`` in every process running the same code. A context is what happened (a cron
tick, an emitted event, a task's status, result or exception); it is stored as JSON text while
it waits for the trigger loop (values inside it go through the app's serializer).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pynenc.exceptions import InvalidTriggerError
from pynenc.invocation.status import InvocationStatus
from pynenc.trigger.cron import normalize_cron

if TYPE_CHECKING:
    from pynenc.serializer.base_serializer import BaseSerializer


class CompositeLogic(StrEnum):
    """How the conditions of one trigger combine: AND waits for all, OR fires on each."""

    AND = "and"
    OR = "or"


class ConditionKind(StrEnum):
    CRON = "cron"
    EVENT = "event"
    STATUS = "status"
    RESULT = "result"
    EXCEPTION = "exception"


def digest(value: object) -> str:
    """A short stable digest of a JSON-able description."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def callable_ref(func: Callable[..., Any]) -> str:
    """A name for a callable that is the same in every process running the same code
    (module, qualified name and, for lambdas and nested functions, the line they start on)."""
    module = getattr(func, "__module__", "?")
    qualname = getattr(func, "__qualname__", type(func).__qualname__)
    code = getattr(func, "__code__", None)
    line = f":{code.co_firstlineno}" if code is not None and "<" in qualname else ""
    return f"{module}.{qualname}{line}"


# ---- filters ------------------------------------------------------------------------------

ArgumentFilterSpec = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool] | None
"""Values that must be equal (a mapping), or a predicate on the whole mapping."""


@dataclass(frozen=True)
class ArgumentFilter:
    """Selects payloads or call arguments: every key of a mapping must be present and equal,
    or a predicate must return True; None selects everything."""

    spec: ArgumentFilterSpec = None

    def __post_init__(self) -> None:
        spec = self.spec
        if spec is not None and not isinstance(spec, Mapping) and not callable(spec):
            raise InvalidTriggerError(
                f"A filter must be a dict of expected values or a callable returning a bool, "
                f"not {type(spec).__name__}."
            )
        if isinstance(spec, Mapping) and not all(isinstance(k, str) for k in spec):
            raise InvalidTriggerError(f"Filter keys must be strings (argument names): {spec!r}")

    @property
    def is_empty(self) -> bool:
        return self.spec is None

    def matches(self, values: Mapping[str, Any]) -> bool:
        spec = self.spec
        if spec is None:
            return True
        if isinstance(spec, Mapping):
            return all(key in values and values[key] == value for key, value in spec.items())
        return bool(spec(values))

    def describe(self) -> object:
        spec = self.spec
        if spec is None:
            return None
        if isinstance(spec, Mapping):
            return {"equals": {key: repr(value) for key, value in sorted(spec.items())}}
        return {"callable": callable_ref(spec)}


class _AnyResult:
    def __repr__(self) -> str:
        return "ANY_RESULT"


ANY_RESULT: Any = _AnyResult()
"""Result filter that accepts every result."""


@dataclass(frozen=True)
class ResultFilter:
    """Selects results: any (:data:`ANY_RESULT`), equal to a value, or accepted by a predicate
    (a callable is always taken as a predicate)."""

    expected: Any = ANY_RESULT

    def matches(self, result: Any) -> bool:
        if self.expected is ANY_RESULT:
            return True
        if callable(self.expected):
            return bool(self.expected(result))
        return bool(result == self.expected)

    def describe(self) -> object:
        if self.expected is ANY_RESULT:
            return None
        if callable(self.expected):
            return {"callable": callable_ref(self.expected)}
        return {"equals": repr(self.expected)}


# ---- contexts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CronContext:
    """A cron tick that fell (the latest one, when several were missed)."""

    tick: datetime
    kind: ClassVar[ConditionKind] = ConditionKind.CRON


@dataclass(frozen=True)
class EventContext:
    """An emitted event."""

    event_id: str
    event_code: str
    payload: dict[str, Any]
    emitted_at: datetime
    kind: ClassVar[ConditionKind] = ConditionKind.EVENT


@dataclass(frozen=True)
class StatusContext:
    """An invocation of the watched task reached a status; ``arguments`` are its call's."""

    invocation_id: str
    task_id: str
    status: InvocationStatus
    arguments: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[ConditionKind] = ConditionKind.STATUS


@dataclass(frozen=True)
class ResultContext:
    """An invocation of the watched task returned ``result``."""

    invocation_id: str
    task_id: str
    result: Any
    arguments: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[ConditionKind] = ConditionKind.RESULT


@dataclass(frozen=True)
class ExceptionContext:
    """An invocation of the watched task failed; ``exception_types`` are the names (qualified
    and bare) of the exception's class and its bases."""

    invocation_id: str
    task_id: str
    exception_type: str
    message: str
    exception_types: tuple[str, ...] = ()
    arguments: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[ConditionKind] = ConditionKind.EXCEPTION


ConditionContext = CronContext | EventContext | StatusContext | ResultContext | ExceptionContext
SourceContext = StatusContext | ResultContext | ExceptionContext
"""Contexts that come from an invocation of another task."""


def exception_type_names(exception: BaseException) -> tuple[str, ...]:
    """Qualified and bare names of the exception's class and its bases (up to Exception)."""
    names: list[str] = []
    for cls in type(exception).__mro__:
        if cls in (BaseException, object):
            break
        names.extend((f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__))
    return tuple(dict.fromkeys(names))


def encode_context(context: ConditionContext, serializer: BaseSerializer) -> str:
    """The stored text of a context; payloads and results go through ``serializer``."""
    data: dict[str, Any] = {"kind": context.kind.value}
    if isinstance(context, CronContext):
        data["tick"] = context.tick.isoformat()
    elif isinstance(context, EventContext):
        data.update(
            event_id=context.event_id,
            event_code=context.event_code,
            payload=serializer.serialize(context.payload),
            emitted_at=context.emitted_at.isoformat(),
        )
    else:
        data.update(invocation_id=context.invocation_id, task_id=context.task_id)
        if isinstance(context, StatusContext):
            data["status"] = context.status.value
        elif isinstance(context, ResultContext):
            data["result"] = serializer.serialize(context.result)
        else:
            data.update(
                exception_type=context.exception_type,
                message=context.message,
                exception_types=list(context.exception_types),
            )
    return json.dumps(data, separators=(",", ":"))


def decode_context(text: str, serializer: BaseSerializer) -> ConditionContext:
    """Rebuild a context stored by :func:`encode_context` (arguments are not stored)."""
    data = json.loads(text)
    kind = ConditionKind(data["kind"])
    if kind is ConditionKind.CRON:
        return CronContext(datetime.fromisoformat(data["tick"]))
    if kind is ConditionKind.EVENT:
        return EventContext(
            data["event_id"],
            data["event_code"],
            serializer.deserialize(data["payload"]),
            datetime.fromisoformat(data["emitted_at"]),
        )
    inv_id, task_id = data["invocation_id"], data["task_id"]
    if kind is ConditionKind.STATUS:
        return StatusContext(inv_id, task_id, InvocationStatus(data["status"]))
    if kind is ConditionKind.RESULT:
        return ResultContext(inv_id, task_id, serializer.deserialize(data["result"]))
    return ExceptionContext(
        inv_id,
        task_id,
        data["exception_type"],
        data["message"],
        tuple(data.get("exception_types", ())),
    )


# ---- conditions ---------------------------------------------------------------------------


class TriggerCondition(ABC):
    """Something that must happen; :meth:`matches` decides whether a context satisfies it."""

    kind: ClassVar[ConditionKind]

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-able description: stored, and the source of :attr:`condition_id`."""

    @abstractmethod
    def matches(self, context: ConditionContext) -> bool: ...

    @property
    def source(self) -> str | None:
        """The task id or event code this condition listens to (None for cron)."""
        return None

    @property
    def needs_arguments(self) -> bool:
        """Whether evaluating it needs the source invocation's call arguments."""
        return False

    @property
    def condition_id(self) -> str:
        return f"{self.kind.value}:{digest(self.describe())}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerCondition) and other.condition_id == self.condition_id

    def __hash__(self) -> int:
        return hash(self.condition_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class CronCondition(TriggerCondition):
    """Satisfied at each tick of a cron expression (evaluated in UTC)."""

    kind = ConditionKind.CRON

    def __init__(self, expression: str) -> None:
        self.expression = normalize_cron(expression)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "cron": self.expression}

    def matches(self, context: ConditionContext) -> bool:
        return isinstance(context, CronContext)


class EventCondition(TriggerCondition):
    """Satisfied by each emitted event with this code whose payload passes the filter."""

    kind = ConditionKind.EVENT

    def __init__(self, event_code: str, payload_filter: ArgumentFilterSpec = None) -> None:
        if not isinstance(event_code, str) or not event_code:
            raise InvalidTriggerError(f"An event code must be a non-empty string: {event_code!r}")
        self.event_code = event_code
        self.payload_filter = ArgumentFilter(payload_filter)

    @property
    def source(self) -> str:
        return self.event_code

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "source": self.event_code,
            "payload_filter": self.payload_filter.describe(),
        }

    def matches(self, context: ConditionContext) -> bool:
        return (
            isinstance(context, EventContext)
            and context.event_code == self.event_code
            and self.payload_filter.matches(context.payload)
        )


class _TaskCondition(TriggerCondition):
    """A condition on invocations of another task, optionally filtered by their arguments."""

    def __init__(self, task_id: str, call_arguments: ArgumentFilterSpec = None) -> None:
        self.task_id = task_id
        self.call_filter = ArgumentFilter(call_arguments)

    @property
    def source(self) -> str:
        return self.task_id

    @property
    def needs_arguments(self) -> bool:
        return not self.call_filter.is_empty

    def _base_description(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "source": self.task_id,
            "call_filter": self.call_filter.describe(),
        }

    def _matches_call(self, context: SourceContext) -> bool:
        return context.task_id == self.task_id and self.call_filter.matches(context.arguments)


class StatusCondition(_TaskCondition):
    """Satisfied when an invocation of the task reaches one of ``statuses``."""

    kind = ConditionKind.STATUS

    def __init__(
        self,
        task_id: str,
        statuses: Iterable[InvocationStatus],
        call_arguments: ArgumentFilterSpec = None,
    ) -> None:
        super().__init__(task_id, call_arguments)
        self.statuses = frozenset(statuses)
        if not self.statuses:
            raise InvalidTriggerError(f"A status condition on '{task_id}' needs a status.")

    def describe(self) -> dict[str, Any]:
        return {**self._base_description(), "statuses": sorted(s.value for s in self.statuses)}

    def matches(self, context: ConditionContext) -> bool:
        return (
            isinstance(context, StatusContext)
            and context.status in self.statuses
            and self._matches_call(context)
        )


class ResultCondition(_TaskCondition):
    """Satisfied when an invocation of the task returns a result the filter accepts."""

    kind = ConditionKind.RESULT

    def __init__(
        self,
        task_id: str,
        result_filter: ResultFilter | None = None,
        call_arguments: ArgumentFilterSpec = None,
    ) -> None:
        super().__init__(task_id, call_arguments)
        self.result_filter = result_filter or ResultFilter()

    def describe(self) -> dict[str, Any]:
        return {**self._base_description(), "result_filter": self.result_filter.describe()}

    def matches(self, context: ConditionContext) -> bool:
        return (
            isinstance(context, ResultContext)
            and self._matches_call(context)
            and self.result_filter.matches(context.result)
        )


class ExceptionCondition(_TaskCondition):
    """Satisfied when an invocation of the task fails with one of the exception types (by
    class name, qualified or bare, matching subclasses too); any exception when none given."""

    kind = ConditionKind.EXCEPTION

    def __init__(
        self,
        task_id: str,
        exception_types: Iterable[str] = (),
        call_arguments: ArgumentFilterSpec = None,
    ) -> None:
        super().__init__(task_id, call_arguments)
        self.exception_types = tuple(sorted(set(exception_types)))

    def describe(self) -> dict[str, Any]:
        return {**self._base_description(), "exception_types": list(self.exception_types)}

    def matches(self, context: ConditionContext) -> bool:
        if not isinstance(context, ExceptionContext) or not self._matches_call(context):
            return False
        if not self.exception_types:
            return True
        return any(name in context.exception_types for name in self.exception_types)


C = TypeVar("C", CronContext, EventContext, StatusContext, ResultContext, ExceptionContext)


@dataclass(frozen=True)
class TriggerContext:
    """Why a trigger fired: the context of each condition that was satisfied, by condition id
    (one for OR logic, one per condition for AND)."""

    trigger_id: str
    contexts: dict[str, ConditionContext]

    def first(self, context_type: type[C]) -> C | None:
        """The first context of ``context_type`` (None when no such condition fired)."""
        for context in self.contexts.values():
            if isinstance(context, context_type):
                return context
        return None

    @property
    def cron(self) -> CronContext | None:
        return self.first(CronContext)

    @property
    def event(self) -> EventContext | None:
        return self.first(EventContext)

    @property
    def status(self) -> StatusContext | None:
        return self.first(StatusContext)

    @property
    def result(self) -> ResultContext | None:
        return self.first(ResultContext)

    @property
    def exception(self) -> ExceptionContext | None:
        return self.first(ExceptionContext)


def source_conditions(
    conditions: Iterable[TriggerCondition],
) -> dict[tuple[ConditionKind, str], list[TriggerCondition]]:
    """Conditions grouped by (kind, source) for lookup when something happens."""
    grouped: dict[tuple[ConditionKind, str], list[TriggerCondition]] = {}
    for condition in conditions:
        if condition.source is not None:
            grouped.setdefault((condition.kind, condition.source), []).append(condition)
    return grouped


def describe_source(description: Mapping[str, Any]) -> tuple[ConditionKind, str] | None:
    """(kind, source) of a stored condition description (None for cron or unknown kinds)."""
    source = description.get("source")
    try:
        kind = ConditionKind(str(description.get("kind")))
    except ValueError:
        return None
    return (kind, source) if isinstance(source, str) else None
