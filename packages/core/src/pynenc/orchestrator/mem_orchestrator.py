"""In-memory orchestrator: for tests and single-process use. One lock makes every primitive
atomic; result waiters block on a condition instead of polling."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    InvocationStatus,
    InvocationStatusRecord,
    TransitionRule,
)
from pynenc.orchestrator.atomic_service import ActiveRunnerInfo, AtomicServiceExecution
from pynenc.orchestrator.base_orchestrator import (
    BaseOrchestrator,
    CasResult,
    InvocationPage,
    InvocationQuery,
    OrchestratorEntry,
    PendingFinals,
)

if TYPE_CHECKING:
    from pynenc.app import Pynenc


@dataclass(slots=True)
class _Row:
    entry: OrchestratorEntry
    record: InvocationStatusRecord
    seq: int
    retries: int = 0


def matches(
    entry: OrchestratorEntry, record: InvocationStatusRecord, query: InvocationQuery
) -> bool:
    """Whether an invocation passes every filter of ``query`` (shared by simple backends)."""
    if query.task_ids is not None and entry.task_id not in query.task_ids:
        return False
    if query.statuses is not None and record.status not in query.statuses:
        return False
    if query.registered_after is not None and entry.registered_at < query.registered_after:
        return False
    if query.registered_before is not None and entry.registered_at >= query.registered_before:
        return False
    if query.status_changed_before is not None and record.timestamp >= query.status_changed_before:
        return False
    if query.owner_ids is not None and record.owner_id not in query.owner_ids:
        return False
    if query.call_id is not None and entry.call_id != query.call_id:
        return False
    if query.registration_key is not None and entry.registration_key != query.registration_key:
        return False
    return query.running_key is None or entry.running_key == query.running_key


class MemOrchestrator(BaseOrchestrator):
    """Keeps statuses in process memory; thread-safe; not shared across processes."""

    cross_process: ClassVar[bool] = False

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._lock = threading.Lock()
        self._final_changed = threading.Condition(self._lock)
        self._rows: dict[InvocationId, _Row] = {}
        self._seq = 0
        self._runners: dict[str, ActiveRunnerInfo] = {}
        self._executions: dict[str, AtomicServiceExecution] = {}
        self._waiting: dict[InvocationId, list[InvocationId]] = {}
        self._registered_by_key: dict[str, InvocationId] = {}
        self._active_by_key: dict[str, set[InvocationId]] = {}

    def _register_invocations(
        self, entries: Sequence[OrchestratorEntry], record: InvocationStatusRecord
    ) -> dict[InvocationId, InvocationId]:
        reused: dict[InvocationId, InvocationId] = {}
        with self._lock:
            for entry in entries:
                if entry.invocation_id in self._rows:
                    reused[entry.invocation_id] = entry.invocation_id
                    continue
                key = entry.registration_key
                holder = self._registered_by_key.get(key) if key is not None else None
                if holder is not None:
                    reused[entry.invocation_id] = holder
                    continue
                self._seq += 1
                self._rows[entry.invocation_id] = _Row(entry, record, self._seq)
                if key is not None:
                    self._registered_by_key[key] = entry.invocation_id
        return reused

    def _cas_status(
        self, invocation_id: InvocationId, rule: TransitionRule, record: InvocationStatusRecord
    ) -> CasResult:
        with self._lock:
            row = self._rows.get(invocation_id)
            previous = row.record if row else None
            if row is None or not rule.allows(previous, record.runner_id or ""):
                return CasResult(False, previous)
            running_key = row.entry.running_key
            active = self._active_by_key.get(running_key) if running_key is not None else None
            if rule.exclusive and active:
                holder = next((i for i in active if i != invocation_id), None)
                if holder is not None:
                    return CasResult(False, previous, conflict=holder)
            row.record = record
            self._index_status(row)
            return CasResult(True, previous)

    def _index_status(self, row: _Row) -> None:
        """Keep the concurrency indexes in step with a row's new status (lock held)."""
        entry, status = row.entry, row.record.status
        key = entry.registration_key
        if (
            key is not None
            and status != InvocationStatus.REGISTERED
            and self._registered_by_key.get(key) == entry.invocation_id
        ):
            del self._registered_by_key[key]
        if entry.running_key is not None:
            active = self._active_by_key.setdefault(entry.running_key, set())
            if status in ACTIVE_STATUSES:
                active.add(entry.invocation_id)
            else:
                active.discard(entry.invocation_id)

    def _get_status_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        with self._lock:
            rows = self._rows
            return {i: rows[i].record for i in invocation_ids if i in rows}

    def _increment_retries(self, invocation_id: InvocationId) -> int:
        with self._lock:
            row = self._rows.get(invocation_id)
            if row is None:
                return 0
            row.retries += 1
            return row.retries

    def _get_retries(self, invocation_id: InvocationId) -> int:
        with self._lock:
            row = self._rows.get(invocation_id)
            return row.retries if row else 0

    def _query_invocations(self, query: InvocationQuery) -> InvocationPage:
        after = int(query.cursor) if query.cursor else 0
        with self._lock:
            rows = sorted(
                (
                    r
                    for r in self._rows.values()
                    if r.seq > after and matches(r.entry, r.record, query)
                ),
                key=lambda r: r.seq,
            )
        page = rows[: query.limit]
        next_cursor = str(page[-1].seq) if len(rows) > query.limit else None
        return InvocationPage([r.entry.invocation_id for r in page], next_cursor)

    def _count_by_status(self, task_id: str | None) -> dict[InvocationStatus, int]:
        with self._lock:
            return dict(
                Counter(
                    r.record.status
                    for r in self._rows.values()
                    if task_id is None or r.entry.task_id == task_id
                )
            )

    def _notify_final(self, invocation_ids: Sequence[InvocationId]) -> None:
        with self._final_changed:
            self._final_changed.notify_all()

    def wait_for_final(
        self, invocation_ids: Sequence[InvocationId], timeout: float
    ) -> dict[InvocationId, InvocationStatusRecord]:
        deadline = time.monotonic() + timeout
        pending = PendingFinals(invocation_ids)
        with self._final_changed:
            while True:
                pending.check(self._final_rows)
                remaining = deadline - time.monotonic()
                if not pending or remaining <= 0:
                    return pending.found
                self._final_changed.wait(remaining)

    def _final_rows(
        self, invocation_ids: list[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        finals = {}
        for invocation_id in invocation_ids:
            row = self._rows.get(invocation_id)
            if row is not None and row.record.status in FINAL_STATUSES:
                finals[invocation_id] = row.record
        return finals

    def _register_heartbeats(
        self, runner_ids: Sequence[str], can_run_atomic_service: bool, now: datetime
    ) -> None:
        with self._lock:
            for runner_id in runner_ids:
                known = self._runners.get(runner_id)
                created = known.creation_time if known else now
                allowed = can_run_atomic_service or bool(
                    known and known.allow_to_run_atomic_service
                )
                self._runners[runner_id] = ActiveRunnerInfo(runner_id, created, now, allowed)

    def _get_runner_infos(self) -> list[ActiveRunnerInfo]:
        with self._lock:
            return list(self._runners.values())

    def _remove_runners(self, runner_ids: Sequence[str]) -> None:
        with self._lock:
            for runner_id in runner_ids:
                self._runners.pop(runner_id, None)

    def _store_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        with self._lock:
            self._executions[execution.atomic_service_run_id] = execution

    def _get_atomic_service_executions(self, limit: int) -> list[AtomicServiceExecution]:
        with self._lock:
            ordered = sorted(self._executions.values(), key=lambda e: e.start_time, reverse=True)
        return ordered[:limit]

    def _trim_atomic_service_executions(self, ended_before: datetime | None, keep: int) -> None:
        with self._lock:
            if ended_before is not None:
                for run_id, ex in list(self._executions.items()):
                    if ex.end_time is not None and ex.end_time < ended_before:
                        del self._executions[run_id]
            if keep > 0 and len(self._executions) > keep:
                ordered = sorted(
                    self._executions.values(), key=lambda e: e.start_time, reverse=True
                )
                for ex in ordered[keep:]:
                    del self._executions[ex.atomic_service_run_id]

    def _add_waiting(self, waiter_id: InvocationId, waited_ids: Sequence[InvocationId]) -> None:
        with self._lock:
            self._waiting[waiter_id] = list(waited_ids)

    def _remove_waiting(self, waiter_id: InvocationId) -> None:
        with self._lock:
            self._waiting.pop(waiter_id, None)

    def _get_waited_ids(self, limit: int) -> list[InvocationId]:
        with self._lock:
            counts: Counter[InvocationId] = Counter()
            for waited in self._waiting.values():
                counts.update(waited)
            return [i for i, _ in counts.most_common(limit)]

    def _get_waiting_for(self, waiter_id: InvocationId) -> list[InvocationId]:
        with self._lock:
            return list(self._waiting.get(waiter_id, []))

    def _delete_invocations(self, invocation_ids: Sequence[InvocationId]) -> None:
        with self._lock:
            for invocation_id in invocation_ids:
                row = self._rows.pop(invocation_id, None)
                if row is not None and row.entry.running_key is not None:
                    self._active_by_key.get(row.entry.running_key, set()).discard(invocation_id)

    def purge(self) -> None:
        with self._lock:
            self._rows.clear()
            self._registered_by_key.clear()
            self._active_by_key.clear()
            self._runners.clear()
            self._executions.clear()
            self._waiting.clear()
        self._final_cache.clear()
        self._status_cache.clear()
