"""In-memory state backend: for tests and single-process use."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.state_backend.base_state_backend import BaseStateBackend, InvocationHistory

if TYPE_CHECKING:
    from pynenc.app import AppInfo, Pynenc
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext
    from pynenc.workflow.identity import WorkflowIdentity

_APP_INFOS: dict[str, AppInfo] = {}
"""App infos of every in-memory app of this process, for discovery."""


class MemStateBackend(BaseStateBackend):
    """Thread-safe dictionaries in process memory; not shared across processes."""

    cross_process: ClassVar[bool] = False

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._lock = threading.Lock()
        self._invocations: dict[InvocationId, tuple[InvocationDTO, CallDTO]] = {}
        self._children: dict[InvocationId, list[InvocationId]] = defaultdict(list)
        self._history: dict[InvocationId, list[InvocationHistory]] = defaultdict(list)
        self._history_by_time: list[tuple[datetime, int, InvocationHistory]] = []
        self._history_seq = 0
        self._results: dict[InvocationId, str] = {}
        self._exceptions: dict[InvocationId, str] = {}
        self._workflow_data: dict[tuple[InvocationId, str], str] = {}
        self._workflow_runs: dict[InvocationId, WorkflowIdentity] = {}
        self._workflow_subs: dict[InvocationId, list[InvocationId]] = defaultdict(list)
        self._contexts: dict[str, RunnerContext] = {}

    def _upsert_invocations(self, entries: Sequence[tuple[InvocationDTO, CallDTO]]) -> None:
        with self._lock:
            for inv_dto, call_dto in entries:
                inv_id = inv_dto.invocation_id
                if inv_id not in self._invocations and inv_dto.parent_invocation_id:
                    self._children[inv_dto.parent_invocation_id].append(inv_id)
                self._invocations[inv_id] = (inv_dto, call_dto)

    def _get_invocation(self, invocation_id: InvocationId) -> tuple[InvocationDTO, CallDTO] | None:
        with self._lock:
            return self._invocations.get(invocation_id)

    def _get_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, tuple[InvocationDTO, CallDTO]]:
        with self._lock:
            stored = self._invocations
            return {i: stored[i] for i in invocation_ids if i in stored}

    def _add_histories(self, histories: Sequence[InvocationHistory]) -> None:
        with self._lock:
            for history in histories:
                self._history[InvocationId(history.invocation_id)].append(history)
                self._history_seq += 1
                bisect.insort(
                    self._history_by_time, (history.timestamp, self._history_seq, history)
                )

    def _get_history(self, invocation_id: InvocationId) -> list[InvocationHistory]:
        with self._lock:
            return sorted(self._history.get(invocation_id, []), key=lambda h: h.timestamp)

    def _set_result(self, invocation_id: InvocationId, serialized_result: str) -> None:
        with self._lock:
            self._results[invocation_id] = serialized_result

    def _get_result(self, invocation_id: InvocationId) -> str | None:
        with self._lock:
            return self._results.get(invocation_id)

    def _set_exception(self, invocation_id: InvocationId, serialized_exception: str) -> None:
        with self._lock:
            self._exceptions[invocation_id] = serialized_exception

    def _get_exception(self, invocation_id: InvocationId) -> str | None:
        with self._lock:
            return self._exceptions.get(invocation_id)

    def _get_child_invocations(self, parent_invocation_id: InvocationId) -> list[InvocationId]:
        with self._lock:
            return list(self._children.get(parent_invocation_id, []))

    def _find_invocation_ids_by_prefix(self, prefix: str, limit: int) -> list[InvocationId]:
        with self._lock:
            return sorted(i for i in self._invocations if i.startswith(prefix))[:limit]

    def _set_workflow_data(self, workflow_id: InvocationId, key: str, serialized: str) -> None:
        with self._lock:
            self._workflow_data[(workflow_id, key)] = serialized

    def _get_workflow_data(self, workflow_id: InvocationId, key: str) -> str | None:
        with self._lock:
            return self._workflow_data.get((workflow_id, key))

    def _store_workflow_run(self, workflow_identity: WorkflowIdentity) -> None:
        with self._lock:
            self._workflow_runs[workflow_identity.workflow_id] = workflow_identity

    def _get_workflow_runs(self, workflow_type: TaskId | None) -> list[WorkflowIdentity]:
        with self._lock:
            return [
                run
                for run in self._workflow_runs.values()
                if workflow_type is None or run.workflow_type == workflow_type
            ]

    def _store_workflow_sub_invocation(
        self, parent_workflow_id: InvocationId, sub_invocation_id: InvocationId
    ) -> None:
        with self._lock:
            subs = self._workflow_subs[parent_workflow_id]
            if sub_invocation_id not in subs:
                subs.append(sub_invocation_id)

    def _get_workflow_sub_invocations(self, workflow_id: InvocationId) -> list[InvocationId]:
        with self._lock:
            return list(self._workflow_subs.get(workflow_id, []))

    def _store_app_info(self, app_info: AppInfo) -> None:
        _APP_INFOS[app_info.app_id] = app_info

    def _get_app_info(self) -> AppInfo | None:
        return _APP_INFOS.get(self.app.app_id)

    def _discover_app_infos(self) -> dict[str, AppInfo]:
        return dict(_APP_INFOS)

    def _store_runner_context(self, runner_context: RunnerContext) -> None:
        with self._lock:
            self._contexts[runner_context.runner_id] = runner_context

    def _get_runner_context(self, runner_id: str) -> RunnerContext | None:
        with self._lock:
            return self._contexts.get(runner_id)

    def _get_matching_runner_contexts(self, partial_id: str) -> list[RunnerContext]:
        with self._lock:
            return [c for r, c in self._contexts.items() if partial_id in r]

    def _iter_history_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int
    ) -> Iterator[list[InvocationHistory]]:
        with self._lock:
            entries = [h for ts, _, h in self._history_by_time if start_time <= ts < end_time]
        for start in range(0, len(entries), batch_size):
            yield entries[start : start + batch_size]

    def purge(self) -> None:
        with self._lock:
            for store in (
                self._invocations,
                self._children,
                self._history,
                self._results,
                self._exceptions,
                self._workflow_data,
                self._workflow_runs,
                self._workflow_subs,
                self._contexts,
            ):
                store.clear()
            self._history_by_time.clear()
        _APP_INFOS.pop(self.app.app_id, None)
        self._runner_contexts.clear()
