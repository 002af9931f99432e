"""The state backend contract: the durable record of invocations, their history, results and
exceptions, workflow data, runner contexts and app info.

The base class serializes, caches and validates; a backend implements the ``_underscore``
primitives, storing strings.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_state_backend import ConfigStateBackend
from pynenc.exceptions import InvocationNotFoundError, PynencError, ResultNotAvailableError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.status import InvocationStatusRecord
from pynenc.util.cache import LRUCache
from pynenc.util.waiting import AdaptiveBackoff

if TYPE_CHECKING:
    from pynenc.app import AppInfo, Pynenc
    from pynenc.invocation.dist_invocation import DistributedInvocation, InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext
    from pynenc.workflow.identity import WorkflowIdentity


@dataclass(frozen=True, slots=True)
class InvocationHistory:
    """One status change of one invocation, with who made it."""

    invocation_id: str
    status_record: InvocationStatusRecord
    runner_context_id: str
    registered_by_inv_id: str | None = None
    _timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def timestamp(self) -> datetime:
        return self._timestamp

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocation_id": self.invocation_id,
            "timestamp": self._timestamp.isoformat(),
            "status_record": self.status_record.to_dict(),
            "runner_context_id": self.runner_context_id,
            "registered_by_inv_id": self.registered_by_inv_id,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationHistory:
        return cls(
            invocation_id=data["invocation_id"],
            status_record=InvocationStatusRecord.from_dict(data["status_record"]),
            runner_context_id=data["runner_context_id"],
            registered_by_inv_id=data.get("registered_by_inv_id"),
            _timestamp=datetime.fromisoformat(data["timestamp"]),
        )

    @classmethod
    def from_json(cls, json_str: str) -> InvocationHistory:
        return cls.from_dict(json.loads(json_str))


class BaseStateBackend(ABC):
    """Keeps everything about invocations that must outlive the orchestrator's working set."""

    config_cls: ClassVar[type[ConfigStateBackend]] = ConfigStateBackend
    result_grace_seconds: ClassVar[float] = 5.0
    """How long a reader waits for the result of an invocation whose final status it has seen:
    the status is set before the result is stored, so a reader can briefly see one without the
    other."""

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)
        self._runner_contexts: LRUCache[str, RunnerContext] = LRUCache(
            self.conf.runner_context_cache_size
        )

    def open_connections(self) -> None:
        """As :meth:`BaseOrchestrator.open_connections`; the default opens nothing."""

    # ------------------------------------------------------------------ storage primitives

    @abstractmethod
    def _upsert_invocations(self, entries: Sequence[tuple[InvocationDTO, CallDTO]]) -> None:
        """Store (or replace) invocation and call DTOs, in one step per batch."""

    @abstractmethod
    def _get_invocation(self, invocation_id: InvocationId) -> tuple[InvocationDTO, CallDTO] | None:
        """The stored DTO pair, or None."""

    def _get_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, tuple[InvocationDTO, CallDTO]]:
        """Several DTO pairs; backends override this to fetch in one round trip."""
        found = {}
        for invocation_id in invocation_ids:
            pair = self._get_invocation(invocation_id)
            if pair is not None:
                found[invocation_id] = pair
        return found

    @abstractmethod
    def _add_histories(self, histories: Sequence[InvocationHistory]) -> None:
        """Append history entries, in one step per batch."""

    @abstractmethod
    def _get_history(self, invocation_id: InvocationId) -> list[InvocationHistory]:
        """The invocation's history, oldest first."""

    @abstractmethod
    def _set_result(self, invocation_id: InvocationId, serialized_result: str) -> None: ...

    @abstractmethod
    def _get_result(self, invocation_id: InvocationId) -> str | None: ...

    @abstractmethod
    def _set_exception(self, invocation_id: InvocationId, serialized_exception: str) -> None: ...

    @abstractmethod
    def _get_exception(self, invocation_id: InvocationId) -> str | None: ...

    @abstractmethod
    def _get_child_invocations(self, parent_invocation_id: InvocationId) -> list[InvocationId]:
        """Invocations registered with ``parent_invocation_id`` as their parent."""

    @abstractmethod
    def _find_invocation_ids_by_prefix(self, prefix: str, limit: int) -> list[InvocationId]:
        """Stored invocation ids starting with ``prefix`` (logs show 7-character ids)."""

    @abstractmethod
    def _set_workflow_data(self, workflow_id: InvocationId, key: str, serialized: str) -> None: ...

    @abstractmethod
    def _get_workflow_data(self, workflow_id: InvocationId, key: str) -> str | None: ...

    @abstractmethod
    def _store_workflow_run(self, workflow_identity: WorkflowIdentity) -> None: ...

    @abstractmethod
    def _get_workflow_runs(self, workflow_type: TaskId | None) -> list[WorkflowIdentity]: ...

    @abstractmethod
    def _store_workflow_sub_invocation(
        self, parent_workflow_id: InvocationId, sub_invocation_id: InvocationId
    ) -> None: ...

    @abstractmethod
    def _get_workflow_sub_invocations(self, workflow_id: InvocationId) -> list[InvocationId]: ...

    @abstractmethod
    def _store_app_info(self, app_info: AppInfo) -> None: ...

    @abstractmethod
    def _get_app_info(self) -> AppInfo | None: ...

    @abstractmethod
    def _discover_app_infos(self) -> dict[str, AppInfo]:
        """App infos of every app stored where this backend stores (all app ids)."""

    @abstractmethod
    def _store_runner_context(self, runner_context: RunnerContext) -> None: ...

    @abstractmethod
    def _get_runner_context(self, runner_id: str) -> RunnerContext | None: ...

    def _get_runner_contexts(self, runner_ids: Sequence[str]) -> list[RunnerContext]:
        """Several runner contexts; backends override this to fetch in one round trip."""
        found = (self._get_runner_context(r) for r in runner_ids)
        return [ctx for ctx in found if ctx is not None]

    @abstractmethod
    def _get_matching_runner_contexts(self, partial_id: str) -> list[RunnerContext]: ...

    @abstractmethod
    def _iter_history_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int
    ) -> Iterator[list[InvocationHistory]]:
        """History entries with ``start_time <= timestamp < end_time``, oldest first."""

    @abstractmethod
    def purge(self) -> None:
        """Delete everything this backend stores for the app."""

    # ------------------------------------------------------------------ invocations

    def upsert_invocations(self, invocations: Sequence[DistributedInvocation[Any, Any]]) -> None:
        """Persist invocations (arguments serialized through the client data store)."""
        if invocations:
            self._upsert_invocations([inv.to_dto_pair() for inv in invocations])

    def get_invocation(self, invocation_id: InvocationId) -> DistributedInvocation[Any, Any]:
        """Rebuild an invocation; its arguments are deserialized only when accessed."""
        from pynenc.invocation.dist_invocation import DistributedInvocation

        pair = self._get_invocation(invocation_id)
        if pair is None:
            raise InvocationNotFoundError(invocation_id)
        return DistributedInvocation.from_dto(self.app, *pair)

    def get_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> list[DistributedInvocation[Any, Any]]:
        """Rebuild several invocations, in the given order; unknown ids raise."""
        from pynenc.invocation.dist_invocation import DistributedInvocation

        if not invocation_ids:
            return []
        pairs = self._get_invocations(invocation_ids)
        missing = [i for i in invocation_ids if i not in pairs]
        if missing:
            raise InvocationNotFoundError(missing[0])
        return [DistributedInvocation.from_dto(self.app, *pairs[i]) for i in invocation_ids]

    def load_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> tuple[list[DistributedInvocation[Any, Any]], dict[InvocationId, PynencError]]:
        """Rebuild invocations in one fetch; the ones that cannot be rebuilt here (unknown id,
        task not importable) are returned as errors instead of failing the batch."""
        from pynenc.invocation.dist_invocation import DistributedInvocation

        pairs = self._get_invocations(invocation_ids) if invocation_ids else {}
        invocations: list[DistributedInvocation[Any, Any]] = []
        errors: dict[InvocationId, PynencError] = {}
        for invocation_id in invocation_ids:
            pair = pairs.get(invocation_id)
            if pair is None:
                errors[invocation_id] = InvocationNotFoundError(invocation_id)
                continue
            try:
                invocations.append(DistributedInvocation.from_dto(self.app, *pair))
            except PynencError as exc:
                errors[invocation_id] = exc
        return invocations, errors

    def invocation_exists(self, invocation_id: InvocationId) -> bool:
        return self._get_invocation(invocation_id) is not None

    def get_child_invocations(self, parent_invocation_id: InvocationId) -> Iterator[InvocationId]:
        return iter(self._get_child_invocations(parent_invocation_id))

    def find_invocation_ids_by_prefix(self, prefix: str, limit: int = 10) -> list[InvocationId]:
        """Invocation ids starting with ``prefix``; at least 4 characters are required."""
        if len(prefix) < 4:
            raise ValueError("give at least 4 characters of an invocation id")
        return self._find_invocation_ids_by_prefix(prefix.lower(), limit)

    # ------------------------------------------------------------------ history

    def add_history(
        self,
        invocation_id: InvocationId,
        status_record: InvocationStatusRecord,
        runner_context: RunnerContext,
        registered_by_inv_id: str | None = None,
    ) -> None:
        self.add_histories_by_id(
            [invocation_id], status_record, runner_context, registered_by_inv_id
        )

    def add_histories(
        self,
        invocations: Sequence[DistributedInvocation[Any, Any]],
        status_record: InvocationStatusRecord,
        runner_context: RunnerContext,
    ) -> None:
        self.add_histories_by_id(
            [inv.invocation_id for inv in invocations], status_record, runner_context
        )

    def add_histories_by_id(
        self,
        invocation_ids: Sequence[InvocationId],
        status_record: InvocationStatusRecord,
        runner_context: RunnerContext,
        registered_by_inv_id: str | None = None,
    ) -> None:
        """One history entry per invocation for the same status change, stored as one batch."""
        self.store_runner_context(runner_context)
        self._add_histories(
            [
                InvocationHistory(
                    invocation_id,
                    status_record,
                    runner_context.runner_id,
                    registered_by_inv_id,
                    status_record.timestamp,
                )
                for invocation_id in invocation_ids
            ]
        )

    def get_history(self, invocation_id: InvocationId) -> list[InvocationHistory]:
        return self._get_history(invocation_id)

    def iter_history_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int = 100
    ) -> Iterator[list[InvocationHistory]]:
        return self._iter_history_in_timerange(start_time, end_time, batch_size)

    def iter_invocations_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int = 100
    ) -> Iterator[list[InvocationId]]:
        """Ids of invocations with history in the range, each once, in batches."""
        seen: set[str] = set()
        batch: list[InvocationId] = []
        for histories in self._iter_history_in_timerange(start_time, end_time, batch_size):
            for history in histories:
                if history.invocation_id not in seen:
                    seen.add(history.invocation_id)
                    batch.append(InvocationId(history.invocation_id))
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
        if batch:
            yield batch

    # ------------------------------------------------------------------ results

    def set_result(self, invocation_id: InvocationId, result: Any) -> None:
        self._set_result(invocation_id, self.app.serializer.serialize(result))

    def set_serialized_result(self, invocation_id: InvocationId, serialized_result: str) -> None:
        self._set_result(invocation_id, serialized_result)

    def set_serialized_exception(self, invocation_id: InvocationId, serialized: str) -> None:
        self._set_exception(invocation_id, serialized)

    def get_result(self, invocation_id: InvocationId) -> Any:
        serialized = self._wait_for_value(self._get_result, invocation_id, "result")
        return self.app.serializer.deserialize(serialized)

    def set_exception(self, invocation_id: InvocationId, exception: BaseException) -> None:
        self._set_exception(invocation_id, self.serialize_exception(exception))

    def get_exception(self, invocation_id: InvocationId) -> BaseException:
        serialized = self._wait_for_value(self._get_exception, invocation_id, "exception")
        return self.deserialize_exception(serialized)

    def serialize_exception(self, exception: BaseException) -> str:
        return self.app.serializer.serialize(exception)

    def deserialize_exception(self, serialized: str) -> BaseException:
        exception = self.app.serializer.deserialize(serialized)
        if not isinstance(exception, BaseException):
            raise ResultNotAvailableError("?", f"stored exception is a {type(exception).__name__}")
        return exception

    def _wait_for_value(self, getter: Any, invocation_id: InvocationId, what: str) -> str:
        value: str | None = getter(invocation_id)
        if value is not None:
            return value
        backoff = AdaptiveBackoff(initial=0.001, maximum=0.05)
        deadline = time.monotonic() + self.result_grace_seconds
        while value is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ResultNotAvailableError(
                    invocation_id,
                    f"Invocation '{invocation_id}' is final but its {what} is not stored: the "
                    "runner may have died while storing it, or the state backend was purged.",
                )
            backoff.sleep(remaining)
            value = getter(invocation_id)
        return value

    # ------------------------------------------------------------------ workflows

    def set_workflow_data(self, workflow_identity: WorkflowIdentity, key: str, value: Any) -> None:
        self._set_workflow_data(
            workflow_identity.workflow_id, key, self.app.serializer.serialize(value)
        )

    def get_workflow_data(
        self, workflow_identity: WorkflowIdentity, key: str, default: Any = None
    ) -> Any:
        serialized = self._get_workflow_data(workflow_identity.workflow_id, key)
        return default if serialized is None else self.app.serializer.deserialize(serialized)

    def store_workflow_run(self, workflow_identity: WorkflowIdentity) -> None:
        self._store_workflow_run(workflow_identity)

    def get_all_workflow_types(self) -> Iterator[TaskId]:
        seen: dict[str, TaskId] = {}
        for run in self._get_workflow_runs(None):
            seen.setdefault(run.workflow_type.key, run.workflow_type)
        return iter(seen.values())

    def get_all_workflow_runs(self) -> Iterator[WorkflowIdentity]:
        return iter(self._get_workflow_runs(None))

    def get_workflow_runs(self, workflow_type: TaskId) -> Iterator[WorkflowIdentity]:
        return iter(self._get_workflow_runs(workflow_type))

    def store_workflow_sub_invocation(
        self, parent_workflow_id: InvocationId, sub_invocation_id: InvocationId
    ) -> None:
        self._store_workflow_sub_invocation(parent_workflow_id, sub_invocation_id)

    def get_workflow_sub_invocations(self, workflow_id: InvocationId) -> Iterator[InvocationId]:
        return iter(self._get_workflow_sub_invocations(workflow_id))

    def get_invocation_ids_by_workflow(
        self, workflow_id: str | None = None, workflow_type_key: str | None = None
    ) -> Iterator[InvocationId]:
        """Invocations run inside matching workflows (by id, by type, or both)."""
        for run in self._get_workflow_runs(
            TaskId.from_key(workflow_type_key) if workflow_type_key else None
        ):
            if workflow_id is None or run.workflow_id == workflow_id:
                yield from self._get_workflow_sub_invocations(run.workflow_id)

    # ------------------------------------------------------------------ app info

    def store_app_info(self, app_info: AppInfo) -> None:
        self._store_app_info(app_info)

    def get_app_info(self) -> AppInfo:
        info = self._get_app_info()
        if info is None:
            raise LookupError(f"no app info stored for app '{self.app.app_id}'")
        return info

    def discover_app_infos(self) -> dict[str, AppInfo]:
        return self._discover_app_infos()

    # ------------------------------------------------------------------ runner contexts

    def store_runner_context(self, runner_context: RunnerContext) -> None:
        """Store a context once per process (later calls hit the local cache)."""
        cached = self._runner_contexts.get(runner_context.runner_id)
        if cached is runner_context or cached == runner_context:
            return
        self._store_runner_context(runner_context)
        self._runner_contexts.set(runner_context.runner_id, runner_context)

    def get_runner_context(self, runner_id: str) -> RunnerContext | None:
        cached = self._runner_contexts.get(runner_id)
        if cached is not None:
            return cached
        ctx = self._get_runner_context(runner_id)
        if ctx is not None:
            self._runner_contexts.set(runner_id, ctx)
        return ctx

    def get_runner_contexts(self, runner_ids: Sequence[str]) -> list[RunnerContext]:
        found: dict[str, RunnerContext] = {}
        missing: list[str] = []
        for runner_id in runner_ids:
            cached = self._runner_contexts.get(runner_id)
            if cached is None:
                missing.append(runner_id)
            else:
                found[runner_id] = cached
        for ctx in self._get_runner_contexts(missing) if missing else []:
            self._runner_contexts.set(ctx.runner_id, ctx)
            found[ctx.runner_id] = ctx
        return [found[r] for r in runner_ids if r in found]

    def get_matching_runner_contexts(self, partial_id: str) -> Iterator[RunnerContext]:
        return iter(self._get_matching_runner_contexts(partial_id))

    # ------------------------------------------------------------------ compatibility

    def wait_for_all_async_operations(self) -> None:
        """Writes are synchronous in every built-in backend; kept for API compatibility."""

    def wait_for_invocation_async_operations(self, invocation_id: str) -> None:
        """Writes are synchronous in every built-in backend; kept for API compatibility."""
