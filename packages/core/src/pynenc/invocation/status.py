"""The invocation status machine, declared once as data.

Every backend validates status changes against :data:`STATUS_TABLE` and nothing else: the base
orchestrator turns the table into a :class:`TransitionRule` per target status (which statuses may
move there, and which of those only their owner may leave) and each backend applies that rule as
one compare-and-set step. A new status is a new row here, never a special case in code.

Ownership needs no extra field: entering PENDING makes the claiming runner the owner, only the
owner may move between owned statuses, so while an invocation is in an owned status the owner is
the ``runner_id`` of its current :class:`InvocationStatusRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any

from pynenc.exceptions import InvalidStatusTransitionError, InvocationOwnershipError


class InvocationStatus(StrEnum):
    """Where an invocation is in its life cycle (see :data:`STATUS_TABLE`)."""

    REGISTERED = "REGISTERED"
    CONCURRENCY_CONTROLLED = "CONCURRENCY_CONTROLLED"
    REROUTED = "REROUTED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RETRY = "RETRY"
    KILLED = "KILLED"
    PENDING_RECOVERY = "PENDING_RECOVERY"
    RUNNING_RECOVERY = "RUNNING_RECOVERY"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CONCURRENCY_CONTROLLED_FINAL = "CONCURRENCY_CONTROLLED_FINAL"

    def is_final(self) -> bool:
        return STATUS_TABLE[self].final

    def is_runnable(self) -> bool:
        return STATUS_TABLE[self].runnable

    def is_owned(self) -> bool:
        return STATUS_TABLE[self].owned

    def can_move_to(self, target: InvocationStatus) -> bool:
        return target in STATUS_TABLE[self].next_statuses


S = InvocationStatus


@dataclass(frozen=True, slots=True)
class StatusDefinition:
    """One row of the status table."""

    status: InvocationStatus
    next_statuses: frozenset[InvocationStatus]
    final: bool = False
    runnable: bool = False
    owned: bool = False
    runnable_after_delay: bool = False
    entered_by_non_owner: bool = False
    """Entering this status may take an invocation away from its owner (recovery)."""
    exclusive: bool = False
    """Entering this status requires that no other invocation with the same running
    concurrency key is active (running concurrency control); backends check it in the same
    atomic step as the move."""
    description: str = ""


def _row(
    status: InvocationStatus, *next_statuses: InvocationStatus, **flags: Any
) -> StatusDefinition:
    return StatusDefinition(status, frozenset(next_statuses), **flags)


STATUS_TABLE: Mapping[InvocationStatus, StatusDefinition] = {
    row.status: row
    for row in (
        _row(
            S.REGISTERED,
            S.PENDING,
            S.CONCURRENCY_CONTROLLED,
            S.CONCURRENCY_CONTROLLED_FINAL,
            runnable=True,
            description="stored and queued, waiting for a runner",
        ),
        _row(
            S.CONCURRENCY_CONTROLLED,
            S.REROUTED,
            description="held back by a concurrency rule; will be rerouted",
        ),
        _row(
            S.REROUTED,
            S.PENDING,
            S.CONCURRENCY_CONTROLLED,
            S.CONCURRENCY_CONTROLLED_FINAL,
            runnable=True,
            description="queued again after a kill, recovery or concurrency hold",
        ),
        _row(
            S.PENDING,
            S.RUNNING,
            S.REROUTED,
            S.KILLED,
            S.PENDING_RECOVERY,
            owned=True,
            exclusive=True,
            description="claimed by a runner, about to run",
        ),
        _row(
            S.RUNNING,
            S.SUCCESS,
            S.FAILED,
            S.RETRY,
            S.PAUSED,
            S.KILLED,
            S.RUNNING_RECOVERY,
            owned=True,
            description="executing on its owner runner",
        ),
        _row(
            S.PAUSED,
            S.RUNNING,
            S.KILLED,
            S.RUNNING_RECOVERY,
            owned=True,
            description="waiting on other invocations, its slot given back",
        ),
        _row(
            S.RETRY,
            S.PENDING,
            runnable=True,
            runnable_after_delay=True,
            description="failed with a retriable error; runs again once its delay has passed",
        ),
        _row(S.KILLED, S.REROUTED, description="stopped by its runner; will be rerouted"),
        _row(
            S.PENDING_RECOVERY,
            S.REROUTED,
            entered_by_non_owner=True,
            description="pending for too long; being recovered",
        ),
        _row(
            S.RUNNING_RECOVERY,
            S.REROUTED,
            entered_by_non_owner=True,
            description="its runner stopped heartbeating; being recovered",
        ),
        _row(S.SUCCESS, final=True, description="finished; its result is stored"),
        _row(S.FAILED, final=True, description="finished with an exception"),
        _row(
            S.CONCURRENCY_CONTROLLED_FINAL,
            final=True,
            description="refused by a concurrency rule; will not run",
        ),
    )
}

FINAL_STATUSES: frozenset[InvocationStatus] = frozenset(
    s for s, r in STATUS_TABLE.items() if r.final
)
RUNNABLE_STATUSES: frozenset[InvocationStatus] = frozenset(
    s for s, r in STATUS_TABLE.items() if r.runnable
)
OWNED_STATUSES: frozenset[InvocationStatus] = frozenset(
    s for s, r in STATUS_TABLE.items() if r.owned
)
ACTIVE_STATUSES: frozenset[InvocationStatus] = frozenset({S.PENDING, S.RUNNING, S.PAUSED})
"""Statuses in which an invocation occupies (or is about to occupy) a runner."""


@dataclass(frozen=True, slots=True)
class TransitionRule:
    """How any backend validates a move to ``target`` in one compare-and-set step.

    The move succeeds when the current status is in ``from_any_runner``, or it is in
    ``from_owner_only`` and the current record's runner is the runner making the move.
    """

    target: InvocationStatus
    from_any_runner: frozenset[InvocationStatus]
    from_owner_only: frozenset[InvocationStatus]
    from_nothing: bool
    exclusive: bool = False
    """Also require that no other invocation sharing the row's running key is active."""

    @property
    def sources(self) -> frozenset[InvocationStatus]:
        return self.from_any_runner | self.from_owner_only

    def allows(self, current: InvocationStatusRecord | None, runner_id: str) -> bool:
        if current is None:
            return self.from_nothing
        if current.status in self.from_any_runner:
            return True
        return current.status in self.from_owner_only and current.runner_id == runner_id


@cache
def transition_rule(target: InvocationStatus) -> TransitionRule:
    """The compare-and-set rule for moving to ``target``, derived from the status table."""
    sources = {s for s, row in STATUS_TABLE.items() if target in row.next_statuses}
    entered_by_non_owner = STATUS_TABLE[target].entered_by_non_owner
    owner_only = frozenset(s for s in sources if STATUS_TABLE[s].owned and not entered_by_non_owner)
    return TransitionRule(
        target=target,
        from_any_runner=frozenset(sources) - owner_only,
        from_owner_only=owner_only,
        from_nothing=target == S.REGISTERED,
        exclusive=STATUS_TABLE[target].exclusive,
    )


def check_transition(
    invocation_id: str,
    current: InvocationStatusRecord | None,
    target: InvocationStatus,
    runner_id: str,
) -> None:
    """Raise the specific error explaining why ``current -> target`` by ``runner_id`` is refused.

    Does nothing when the move is allowed.
    """
    rule = transition_rule(target)
    if rule.allows(current, runner_id):
        return
    if current is not None and current.status in rule.from_owner_only:
        raise InvocationOwnershipError(
            invocation_id, current.status, current.runner_id, runner_id, target
        )
    raise InvalidStatusTransitionError(invocation_id, current.status if current else None, target)


@dataclass(frozen=True, slots=True)
class InvocationStatusRecord:
    """A status together with the runner that set it and when."""

    status: InvocationStatus
    runner_id: str | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def owner_id(self) -> str | None:
        """The owning runner while the status is owned, else None."""
        return self.runner_id if self.status.is_owned() else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "runner_id": self.runner_id,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvocationStatusRecord:
        return cls(
            status=InvocationStatus(data["status"]),
            runner_id=data.get("runner_id"),
            timestamp=datetime.fromisoformat(data["timestamp"]),
        )


def render_status_table() -> str:
    """The status machine as a text table (used by ``pynenc status render``)."""
    headers = ("status", "final", "runnable", "owned", "may move to")
    rows = [
        (
            row.status.value,
            "yes" if row.final else "",
            "after delay" if row.runnable_after_delay else ("yes" if row.runnable else ""),
            "yes" if row.owned else "",
            ", ".join(sorted(s.value for s in row.next_statuses)) or "-",
        )
        for row in STATUS_TABLE.values()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(tuple("-" * w for w in widths))]
    out.extend(line(r) for r in rows)
    out.append("")
    out.append("Recovery statuses (PENDING_RECOVERY, RUNNING_RECOVERY) may be entered by a runner")
    out.append("that is not the owner; any other move out of an owned status needs its owner.")
    return "\n".join(out)
