"""The trigger contract: storage for conditions, trigger definitions, satisfied conditions,
cron last-run compare-and-set, trigger-run claims and event records.

Condition and trigger semantics live above this contract, so every backend only stores strings
and performs a few atomic steps (the cron compare-and-set and the trigger-run claim are what make
one tick or one event fire exactly once across any number of runners). The base class holds the
policy every backend inherits: registering the triggers of ``trigger_task_modules``, the index of
watched tasks and event codes that keeps the hot-path hooks free when nothing listens, the hooks
themselves (``report_status``, ``report_result``, ``report_exception``), ``emit_event``, and
reading event and run records. The trigger loop that consumes what the hooks record is
:mod:`pynenc.trigger.trigger_service`.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_trigger import ConfigTrigger
from pynenc.exceptions import InvalidEventError, PynencError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.status import InvocationStatus
from pynenc.trigger.conditions import (
    ConditionContext,
    ConditionKind,
    CronCondition,
    EventContext,
    ExceptionContext,
    ResultContext,
    StatusContext,
    encode_context,
    exception_type_names,
)
from pynenc.trigger.cron import latest_tick
from pynenc.trigger.index import SourceIndex, WatchEntry, parse_descriptions
from pynenc.util.cache import LRUCache

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.invocation.dist_invocation import DistributedInvocation
    from pynenc.task import Task
    from pynenc.trigger.builder import TriggerDefinition

_TASK_ID_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An emitted event: id, code, serialized payload and when it was emitted."""

    event_id: str
    event_code: str
    payload: str
    emitted_at: datetime


@dataclass(frozen=True, slots=True)
class TriggerRunRecord:
    """A claimed trigger run and the invocations it created."""

    trigger_run_id: str
    trigger_id: str
    claimed_at: datetime
    invocation_ids: tuple[str, ...] = ()


class BaseTrigger(ABC):
    """Stores what the trigger loop needs and performs its atomic claims."""

    config_cls: ClassVar[type[ConfigTrigger]] = ConfigTrigger

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)
        self._policy_lock = threading.RLock()
        self._index = SourceIndex()
        self._index_expires = float("-inf")
        self._registered: dict[str, dict[str, Any]] = {}
        self._task_ids: LRUCache[str, str] = LRUCache(_TASK_ID_CACHE_SIZE)
        self._definitions: dict[str, TriggerDefinition] | None = None
        self._definitions_key: tuple[int, int] | None = None

    # ---- conditions and trigger definitions -------------------------------------------

    @abstractmethod
    def _store_condition(self, condition_id: str, serialized: str) -> None: ...

    @abstractmethod
    def _get_condition(self, condition_id: str) -> str | None: ...

    @abstractmethod
    def _get_all_conditions(self) -> dict[str, str]: ...

    @abstractmethod
    def _store_trigger(
        self, trigger_id: str, serialized: str, condition_ids: Sequence[str]
    ) -> None:
        """Store a trigger definition and index it under each of its conditions."""

    @abstractmethod
    def _get_trigger(self, trigger_id: str) -> str | None: ...

    @abstractmethod
    def _get_trigger_ids_for_condition(self, condition_id: str) -> list[str]: ...

    @abstractmethod
    def _remove_trigger(self, trigger_id: str) -> None: ...

    # ---- satisfied ("valid") conditions -------------------------------------------------

    @abstractmethod
    def _add_valid_conditions(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """Record satisfied conditions as (valid_condition_id, condition_id, serialized)."""

    @abstractmethod
    def _get_valid_conditions(self, limit: int) -> list[tuple[str, str, str]]:
        """Satisfied conditions not yet consumed, oldest first."""

    @abstractmethod
    def _remove_valid_conditions(self, valid_condition_ids: Sequence[str]) -> None: ...

    # ---- atomic steps ---------------------------------------------------------------------

    @abstractmethod
    def _cas_cron_last_run(
        self, condition_id: str, expected: datetime | None, new: datetime
    ) -> bool:
        """Set the last run time of a cron condition to ``new`` only if it is ``expected``."""

    @abstractmethod
    def _get_cron_last_run(self, condition_id: str) -> datetime | None: ...

    @abstractmethod
    def _claim_trigger_run(self, trigger_run_id: str, trigger_id: str, now: datetime) -> bool:
        """Claim a trigger run; True for exactly one caller per ``trigger_run_id``."""

    @abstractmethod
    def _reclaim_trigger_run(
        self, trigger_run_id: str, claimed_at: datetime, now: datetime
    ) -> bool:
        """Claim an abandoned run again: set its claim time to ``now`` only if it is still
        ``claimed_at`` and the run has no invocation; True for exactly one caller."""

    @abstractmethod
    def _record_trigger_run_invocations(
        self, trigger_run_id: str, invocation_ids: Sequence[str]
    ) -> None: ...

    @abstractmethod
    def _get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None: ...

    @abstractmethod
    def _add_trigger_run_sources(self, trigger_run_id: str, source_ids: Sequence[str]) -> None:
        """Link a run to what caused it (event ids, source invocation ids, cron ticks)."""

    @abstractmethod
    def _get_trigger_run_ids_for_source(self, source_id: str) -> list[str]:
        """Runs linked to ``source_id``, oldest first."""

    # ---- events -----------------------------------------------------------------------------

    @abstractmethod
    def _store_event(self, event: EventRecord) -> None: ...

    @abstractmethod
    def _get_event(self, event_id: str) -> EventRecord | None: ...

    @abstractmethod
    def _purge_records(
        self, events_before: datetime, runs_before: datetime, max_events: int, max_runs: int
    ) -> None:
        """Delete events emitted before ``events_before`` and trigger runs claimed before
        ``runs_before``, then all but the newest ``max_events`` events and ``max_runs`` runs
        (0 keeps all); a purged run's source links go with it."""

    @abstractmethod
    def purge(self) -> None:
        """Delete everything the trigger component stores for the app."""

    # ---- policy -------------------------------------------------------------------------------

    def claim_cron_tick(self, condition_id: str, tick: datetime) -> bool:
        """True for exactly one caller per (condition, tick): the compare-and-set on the last
        run time advances it only from the value this caller saw."""
        last = self._get_cron_last_run(condition_id)
        if last is not None and last >= tick:
            return False
        return self._cas_cron_last_run(condition_id, last, tick)

    def claim_trigger_run(self, trigger_run_id: str, trigger_id: str) -> bool:
        return self._claim_trigger_run(trigger_run_id, trigger_id, self.app.clock.now())

    def reclaim_trigger_run(self, run: TriggerRunRecord) -> bool:
        """Claim ``run`` again if it was abandoned: claimed at least
        ``trigger_run_claim_timeout_seconds`` ago and still without an invocation (True for
        exactly one caller, and never for a run that created its invocation)."""
        now = self.app.clock.now()
        timeout = timedelta(seconds=self.conf.trigger_run_claim_timeout_seconds)
        if run.invocation_ids or now - run.claimed_at < timeout:
            return False
        return self._reclaim_trigger_run(run.trigger_run_id, run.claimed_at, now)

    def purge_old_records(self) -> None:
        """Apply the retention settings, each to its own records; a retention of 0 hours
        keeps records of any age."""
        now = self.app.clock.now()

        def cutoff(hours: float) -> datetime:
            return now - timedelta(hours=hours) if hours > 0 else datetime.min.replace(tzinfo=UTC)

        self._purge_records(
            cutoff(self.conf.event_retention_hours),
            cutoff(self.conf.trigger_run_retention_hours),
            self.conf.event_max_records,
            self.conf.trigger_run_max_records,
        )

    # ---- trigger definitions of this process --------------------------------------------

    def definitions(self, refresh: bool = False) -> dict[str, TriggerDefinition]:
        """The triggers this process evaluates, by id: those of the tasks of the modules in
        ``trigger_task_modules`` (imported ones; runners import them at start)."""
        modules = self.app.conf.trigger_task_modules
        key = (len(self.app.tasks), sum(name in sys.modules for name in modules))
        with self._policy_lock:
            if refresh or self._definitions is None or key != self._definitions_key:
                self._definitions = {
                    d.trigger_id: d for task in self._trigger_tasks() for d in task.triggers
                }
                self._definitions_key = key
            return self._definitions

    def _trigger_tasks(self) -> list[Task[Any, Any]]:
        from pynenc.task import Task

        modules = self.app.conf.trigger_task_modules
        found: dict[str, Task[Any, Any]] = {
            key: task
            for key, task in self.app.tasks.items()
            if task.triggers and task.task_id.module in modules
        }
        for name in sorted(modules):
            module = sys.modules.get(name)
            for value in vars(module).values() if module is not None else ():
                if (
                    isinstance(value, Task)
                    and value.triggers
                    and value.task_id.module == name
                    and value.task_id.key not in found
                ):
                    found[value.task_id.key] = self.app.get_task(value.task_id)
        return list(found.values())

    def ignored_trigger_tasks(self) -> list[TaskId]:
        """Tasks known to this app that declare triggers outside ``trigger_task_modules``
        (their triggers never fire)."""
        modules = self.app.conf.trigger_task_modules
        return sorted(
            (
                task.task_id
                for task in self.app.tasks.values()
                if task.triggers and task.task_id.module not in modules
            ),
            key=lambda task_id: task_id.key,
        )

    def register_task_triggers(self) -> list[TriggerDefinition]:
        """Store the conditions and triggers this process evaluates (so every process's index
        sees them) and start each cron condition at its current tick: a new cron trigger fires
        at its next tick, not for one that fell before it existed. Runners call this at start."""
        definitions = list(self.definitions(refresh=True).values())
        now = self.app.clock.now()
        registered: dict[str, dict[str, Any]] = {}
        for definition in definitions:
            for condition in definition.conditions:
                description = condition.describe()
                registered[condition.condition_id] = description
                self._store_condition(condition.condition_id, json.dumps(description))
                if isinstance(condition, CronCondition):
                    tick = latest_tick(condition.expression, now)
                    if self._get_cron_last_run(condition.condition_id) is None:
                        self._cas_cron_last_run(condition.condition_id, None, tick)
            self._store_trigger(
                definition.trigger_id, json.dumps(definition.describe()), definition.condition_ids
            )
        with self._policy_lock:
            self._registered.update(registered)
            self._index_expires = float("-inf")
        return definitions

    # ---- what triggers listen to (the hot-path index) -------------------------------------

    def source_index(self) -> SourceIndex:
        """The index of listened sources, re-read every ``trigger_index_refresh_seconds``."""
        now = self.app.clock.monotonic()
        if now < self._index_expires:
            return self._index
        with self._policy_lock:
            if now >= self._index_expires:
                try:
                    stored = self._get_all_conditions()
                except Exception:
                    self.app.logger.exception("cannot read trigger conditions; retrying later")
                    stored = {}
                self._index = SourceIndex({**parse_descriptions(stored), **self._registered})
                self._index_expires = now + self.conf.trigger_index_refresh_seconds
            return self._index

    def _task_id_of(self, invocation_id: str) -> str | None:
        task_id = self._task_ids.get(invocation_id)
        if task_id is None:
            pair = self.app.state_backend._get_invocation(InvocationId(invocation_id))
            if pair is None:
                return None
            task_id = pair[1].task_id.key
            self._task_ids.set(invocation_id, task_id)
        return task_id

    def _watching(self, invocation_id: str, kind: ConditionKind) -> tuple[str, list[WatchEntry]]:
        """(task id, conditions of ``kind`` on it)."""
        index = self.source_index()
        task_id = self._task_id_of(invocation_id)
        if task_id is None or task_id not in index.watched_tasks:
            return "", []
        return task_id, index.entries(kind, task_id)

    # ---- hooks: facts that may satisfy conditions -----------------------------------------

    def report_registered(self, invocations: Sequence[DistributedInvocation[Any, Any]]) -> None:
        """Invocations were registered (REGISTERED is reached outside status changes)."""
        if self.source_index().watched_tasks:
            self._guarded(self._report_registered, invocations)

    def report_status(self, invocation_id: str, status: InvocationStatus) -> None:
        """An invocation reached ``status``: record it for the status conditions watching it."""
        if self.source_index().watched_tasks:
            self._guarded(self._report_status, invocation_id, status)

    def report_result(self, invocation_id: str, result: Any) -> None:
        """An invocation returned ``result``: record it for the result conditions watching it."""
        if self.source_index().watched_tasks:
            self._guarded(self._report_result, invocation_id, result)

    def report_exception(self, invocation_id: str, exception: BaseException) -> None:
        """An invocation failed for good: record it for the exception conditions watching it."""
        if self.source_index().watched_tasks:
            self._guarded(self._report_exception, invocation_id, exception)

    def _guarded(self, report: Callable[..., None], *args: Any) -> None:
        """A trigger that cannot be recorded is logged; the invocation's own change stands."""
        try:
            report(*args)
        except Exception:
            self.app.logger.exception("could not record a trigger condition (%s)", report.__name__)

    def _report_registered(self, invocations: Sequence[DistributedInvocation[Any, Any]]) -> None:
        for invocation in invocations:
            self._task_ids.set(invocation.invocation_id, invocation.task.task_id.key)
            self._report_status(invocation.invocation_id, InvocationStatus.REGISTERED)

    def _report_status(self, invocation_id: str, status: InvocationStatus) -> None:
        task_id, entries = self._watching(invocation_id, ConditionKind.STATUS)
        matching = [e for e in entries if status in e.statuses]
        if matching:
            context = StatusContext(invocation_id, task_id, status)
            nonce = uuid.uuid4().hex[:12]
            self._record(
                context, [(f"{invocation_id}|{status.value}|{nonce}", e) for e in matching]
            )

    def _report_result(self, invocation_id: str, result: Any) -> None:
        task_id, entries = self._watching(invocation_id, ConditionKind.RESULT)
        if entries:
            context = ResultContext(invocation_id, task_id, result)
            self._record(context, [(f"{invocation_id}|result", e) for e in entries])

    def _report_exception(self, invocation_id: str, exception: BaseException) -> None:
        task_id, entries = self._watching(invocation_id, ConditionKind.EXCEPTION)
        if entries:
            names = exception_type_names(exception)
            context = ExceptionContext(invocation_id, task_id, names[0], str(exception), names)
            self._record(context, [(f"{invocation_id}|exception", e) for e in entries])

    def _record(self, context: ConditionContext, targets: list[tuple[str, WatchEntry]]) -> None:
        value = encode_context(context, self.app.serializer)
        self._add_valid_conditions(
            [
                (f"{prefix}|{entry.condition_id}", entry.condition_id, value)
                for prefix, entry in targets
            ]
        )

    # ---- events -------------------------------------------------------------------------------

    def emit_event(self, event_code: str, payload: Mapping[str, Any] | None = None) -> str:
        """Store an event and record it for the event conditions listening to ``event_code``;
        returns the event id. The payload must be a mapping the serializer can store."""
        if not isinstance(event_code, str) or not event_code.strip():
            raise InvalidEventError(
                f"An event code must be a non-empty string, not {event_code!r}."
            )
        data = _event_payload(event_code, payload)
        try:
            serialized = self.app.serializer.serialize(data)
        except (PynencError, TypeError, ValueError) as exc:
            raise InvalidEventError(
                f"The payload of event '{event_code}' cannot be serialized: {exc}. Nothing was "
                "emitted; pass values the configured serializer supports."
            ) from exc
        event = EventRecord(uuid.uuid4().hex, event_code, serialized, self.app.clock.now())
        self._store_event(event)
        entries = self.source_index().entries(ConditionKind.EVENT, event_code)
        if entries:
            context = EventContext(event.event_id, event_code, data, event.emitted_at)
            self._record(context, [(event.event_id, e) for e in entries])
        return event.event_id

    def get_event(self, event_id: str) -> EventRecord | None:
        return self._get_event(event_id)

    def get_event_payload(self, event_id: str) -> dict[str, Any] | None:
        event = self._get_event(event_id)
        return None if event is None else dict(self.app.serializer.deserialize(event.payload))

    # ---- trigger run records ----------------------------------------------------------------

    def get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None:
        return self._get_trigger_run(trigger_run_id)

    def get_trigger_runs_for_source(self, source_id: str) -> list[TriggerRunRecord]:
        """Runs caused by an event id, a source invocation id or a cron tick id."""
        runs = (self._get_trigger_run(r) for r in self._get_trigger_run_ids_for_source(source_id))
        return [run for run in runs if run is not None]

    def get_invocations_for_event(self, event_id: str) -> list[InvocationId]:
        """Invocations that triggers created because of this event."""
        return [
            InvocationId(inv_id)
            for run in self.get_trigger_runs_for_source(event_id)
            for inv_id in run.invocation_ids
        ]


def _event_payload(event_code: str, payload: object) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping) or not all(isinstance(k, str) for k in payload):
        raise InvalidEventError(
            f"The payload of event '{event_code}' must be a dict with string keys, not "
            f"{type(payload).__name__}; nothing was emitted."
        )
    return dict(payload)
