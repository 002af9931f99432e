"""How values are written in Redis: times as integer microseconds, history entries and
invocation records as compact JSON arrays, status records as ``status|runner|micros``."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.workflow.identity import WorkflowIdentity

if TYPE_CHECKING:
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.models.call_dto import CallDTO

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


HISTORY_WINDOW_US = 10_000_000
"""Width of a window of the history time index (10 s): the state backend keeps, per window,
the set of the invocations with history entries in it (``s:hw:<window>``, see the scripts'
prelude)."""


def to_micros(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int | str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- status records -----------------------------------------------------------------------------


_STATUSES: dict[str, InvocationStatus] = {s.value: s for s in InvocationStatus}


def record_from(status: str, runner_id: str, micros: str | int) -> InvocationStatusRecord:
    """The record the scripts return as (status, runner id or "", micros)."""
    found = _STATUSES.get(status)
    return InvocationStatusRecord(
        InvocationStatus(status) if found is None else found,
        runner_id or None,
        from_micros(micros),
    )


class Notification(NamedTuple):
    """A final move as published: the record and, when it was small, the result (``r``) or
    exception (``e``) it stored."""

    invocation_id: InvocationId
    record: InvocationStatusRecord
    value_kind: str = ""
    value: str = ""


def parse_notification(data: str) -> Notification | None:
    """``id|status|runner|micros[|<kind><value>]``, as the final step publishes it (None if
    malformed)."""
    parts = data.split("|", 4)
    if len(parts) < 4:
        return None
    try:
        record = record_from(parts[1], parts[2], parts[3])
    except ValueError:
        return None
    if len(parts) == 5 and parts[4][:1] in ("r", "e"):
        return Notification(InvocationId(parts[0]), record, parts[4][0], parts[4][1:])
    return Notification(InvocationId(parts[0]), record)


# --- history ------------------------------------------------------------------------------------


def encode_history(history: InvocationHistory) -> str:
    """``[micros, status, runner, status micros, runner context, registered by]``."""
    record = history.status_record
    mid, tail = history_parts(
        record.status.value,
        record.runner_id,
        history.runner_context_id,
        history.registered_by_inv_id,
    )
    return f"[{to_micros(history.timestamp)},{mid},{to_micros(record.timestamp)},{tail}]"


@functools.lru_cache(maxsize=256)
def history_parts(
    status: str, runner_id: str | None, context_id: str, registered_by: str | None
) -> tuple[str, str]:
    """The JSON of a history entry between its two times and after them: a script writing
    the entry of a change whose time it decides puts the times around these."""
    return dumps([status, runner_id])[1:-1], dumps([context_id, registered_by])[1:-1]


def decode_history(invocation_id: str, encoded: str) -> InvocationHistory:
    micros, status, runner_id, status_micros, context_id, registered_by = json.loads(encoded)
    return InvocationHistory(
        invocation_id=invocation_id,
        status_record=InvocationStatusRecord(
            InvocationStatus(status), runner_id, from_micros(status_micros)
        ),
        runner_context_id=context_id,
        registered_by_inv_id=registered_by,
        _timestamp=from_micros(micros),
    )


# --- invocations ---------------------------------------------------------------------------------


def encode_invocation(invocation: InvocationDTO, call: CallDTO) -> str:
    """``[call id, parent, workflow id, workflow type, parent workflow, {arguments}]``."""
    workflow = invocation.workflow
    return dumps(
        [
            invocation.call_id.key,
            invocation.parent_invocation_id,
            workflow.workflow_id if workflow else None,
            workflow.workflow_type.key if workflow else None,
            workflow.parent_workflow_id if workflow else None,
            call.serialized_arguments,
        ]
    )


def decode_invocation(invocation_id: str, encoded: str) -> tuple[InvocationDTO, CallDTO]:
    from pynenc.invocation.dist_invocation import InvocationDTO

    call_key, parent_id, wf_id, wf_type, parent_wf_id, arguments = json.loads(encoded)
    return InvocationDTO.pair_from_columns(
        invocation_id, call_key, parent_id, wf_id, wf_type, parent_wf_id, arguments
    )


def encode_workflow(workflow: WorkflowIdentity) -> str:
    return dumps([workflow.workflow_type.key, workflow.parent_workflow_id])


def decode_workflow(workflow_id: str, encoded: str) -> WorkflowIdentity:
    workflow_type, parent = json.loads(encoded)
    return WorkflowIdentity(
        InvocationId(workflow_id),
        TaskId.from_key(workflow_type),
        InvocationId(parent) if parent else None,
    )
