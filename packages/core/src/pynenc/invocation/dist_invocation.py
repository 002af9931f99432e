"""Invocations that run on runners, wherever they are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynenc.call import LazyCall
from pynenc.exceptions import (
    ConcurrencyControlError,
    InvocationTimeoutError,
    ResultNotAvailableError,
)
from pynenc.identifiers.call_id import CallId
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation import context
from pynenc.invocation.base_invocation import BaseInvocation, BaseInvocationGroup
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.types import Params, Result
from pynenc.workflow.identity import WorkflowIdentity

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.call import Call
    from pynenc.models.call_dto import CallDTO


@dataclass(frozen=True, slots=True)
class InvocationDTO:
    """What a backend stores of an invocation besides its call."""

    invocation_id: InvocationId
    call_id: CallId
    parent_invocation_id: InvocationId | None = None
    workflow: WorkflowIdentity | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocation_id": self.invocation_id,
            "call_id": self.call_id.key,
            "parent_invocation_id": self.parent_invocation_id,
            "workflow": self.workflow.to_dict() if self.workflow else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationDTO:
        workflow = data.get("workflow")
        return cls(
            invocation_id=InvocationId(data["invocation_id"]),
            call_id=CallId.from_key(data["call_id"]),
            parent_invocation_id=data.get("parent_invocation_id"),
            workflow=WorkflowIdentity.from_dict(workflow) if workflow else None,
        )

    @classmethod
    def pair_from_columns(
        cls,
        invocation_id: str,
        call_key: str,
        parent_invocation_id: str | None,
        workflow_id: str | None,
        workflow_type: str | None,
        parent_workflow_id: str | None,
        serialized_arguments: dict[str, str],
    ) -> tuple[InvocationDTO, CallDTO]:
        """The invocation and its call from the flat values a backend stores them as (a
        workflow only when ``workflow_id`` is set)."""
        from pynenc.models.call_dto import CallDTO

        call_id = CallId.from_key(call_key)
        workflow = (
            WorkflowIdentity(
                InvocationId(workflow_id),
                TaskId.from_key(workflow_type or ""),
                InvocationId(parent_workflow_id) if parent_workflow_id else None,
            )
            if workflow_id
            else None
        )
        return (
            cls(
                InvocationId(invocation_id),
                call_id,
                InvocationId(parent_invocation_id) if parent_invocation_id else None,
                workflow,
            ),
            CallDTO(call_id, serialized_arguments),
        )


class DistributedInvocation(BaseInvocation[Params, Result]):
    """An invocation stored in the backends and executed by a runner."""

    def __init__(
        self,
        call: Call[Params, Result],
        invocation_id: InvocationId | None = None,
        parent_invocation_id: InvocationId | None = None,
        workflow: WorkflowIdentity | None = None,
    ) -> None:
        super().__init__(call, invocation_id or new_invocation_id())
        self.parent_invocation_id = parent_invocation_id
        self.workflow = workflow

    @classmethod
    def new(
        cls, call: Call[Params, Result], invocation_id: InvocationId | None = None
    ) -> DistributedInvocation[Params, Result]:
        """A fresh invocation whose parent (and workflow) is the invocation running now; its id
        is ``invocation_id`` when given (one derived from what caused it), else a new one."""
        parent = context.current_invocation.get()
        invocation_id = invocation_id or new_invocation_id()
        workflow = None
        if call.task.is_workflow:
            workflow = WorkflowIdentity(
                invocation_id,
                call.task.task_id,
                parent.workflow.workflow_id if parent and parent.workflow else None,
            )
        elif parent is not None:
            workflow = parent.workflow
        return cls(
            call,
            invocation_id,
            parent.invocation_id if parent else None,
            workflow,
        )

    @classmethod
    def from_dto(
        cls, app: Pynenc, invocation_dto: InvocationDTO, call_dto: CallDTO
    ) -> DistributedInvocation[Any, Any]:
        task = app.get_task(call_dto.task_id)
        return cls(
            LazyCall(task, call_dto),
            invocation_dto.invocation_id,
            invocation_dto.parent_invocation_id,
            invocation_dto.workflow,
        )

    def to_dto(self) -> InvocationDTO:
        return InvocationDTO(
            self.invocation_id, self.call.call_id, self.parent_invocation_id, self.workflow
        )

    def to_dto_pair(self) -> tuple[InvocationDTO, CallDTO]:
        return self.to_dto(), self.call.to_dto()

    @property
    def status(self) -> InvocationStatus:
        return self.app.orchestrator.get_invocation_status(self.invocation_id)

    @property
    def status_record(self) -> InvocationStatusRecord:
        return self.app.orchestrator.get_invocation_status_record(self.invocation_id)

    @property
    def num_retries(self) -> int:
        return self.app.orchestrator.get_invocation_retries(self.invocation_id)

    def wait(self, timeout: float | None = None) -> Result:
        record = _wait_for_records(self.app, [self.invocation_id], timeout)[self.invocation_id]
        return self._final_value(record.status)

    async def async_result(self) -> Result:
        return await asyncio.to_thread(self.wait)

    def _final_value(self, status: InvocationStatus) -> Result:
        backend = self.app.state_backend
        if status == InvocationStatus.SUCCESS:
            value: Result = backend.get_result(self.invocation_id)
            return value
        if status == InvocationStatus.FAILED:
            raise backend.get_exception(self.invocation_id)
        if status == InvocationStatus.CONCURRENCY_CONTROLLED_FINAL:
            raise ConcurrencyControlError(
                f"Invocation '{self.invocation_id}' of task '{self.task.task_id}' was not run: "
                "an equivalent invocation was already pending or running and the task's "
                "concurrency control is final (reroute_on_concurrency_control=False)."
            )
        raise ResultNotAvailableError(  # pragma: no cover - only final statuses reach here
            self.invocation_id, f"status {status} carries no result"
        )


def _wait_for_records(
    app: Pynenc,
    invocation_ids: Sequence[InvocationId],
    timeout: float | None,
) -> dict[InvocationId, InvocationStatusRecord]:
    """Wait until every invocation is final; return their final records.

    The current runner decides how to wait (a runner gives its slot back while a task waits on
    others), and the waiting invocation is recorded for blocking control.
    """
    done = app.orchestrator.get_final_records(invocation_ids)
    pending = [i for i in invocation_ids if i not in done]
    if not pending:
        return done
    runner = app.runner
    parent = context.current_invocation.get()
    parent_id = parent.invocation_id if parent else None
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        remaining: float | None = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InvocationTimeoutError(
                    pending[0],
                    f"{len(pending)} invocation(s) not final after {timeout}s "
                    f"(first: '{pending[0]}'); wait longer or check that a runner is serving "
                    "their queue.",
                )
        finals = runner.waiting_for_results(parent_id, pending, timeout=remaining)
        if finals:
            done.update(finals)
            pending = [i for i in pending if i not in done]
    return done


class DistributedInvocationGroup(BaseInvocationGroup[Params, Result]):
    """Invocations created together by ``task.parallelize``."""

    invocations: list[DistributedInvocation[Params, Result]]  # type: ignore[assignment]

    def __init__(self, invocations: Sequence[DistributedInvocation[Params, Result]]) -> None:
        super().__init__(invocations)

    def wait(self, timeout: float | None = None) -> list[Result]:
        if not self.invocations:
            return []
        app = self.invocations[0].app
        records = _wait_for_records(app, [i.invocation_id for i in self.invocations], timeout)
        return [inv._final_value(records[inv.invocation_id].status) for inv in self.invocations]

    async def async_results(self) -> list[Result]:
        return await asyncio.to_thread(self.wait)
