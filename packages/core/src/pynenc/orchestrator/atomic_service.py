"""Atomic global services: one runner at a time runs the cluster-wide services (recovery,
triggers) in a slot of a rotating schedule, and every attempt is recorded.

The scheduling decision is pure (no I/O, no clock reads): :func:`decide_atomic_service_claim`
takes the membership list and the current time as arguments and returns one
:class:`AtomicServiceClaim` saying what the calling runner should do. Every runner that sees the
same membership computes the same slots, so at any instant at most one of them is cleared.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum, auto
from typing import NamedTuple
from uuid import uuid4

_RUN_ID_NAMESPACE = uuid.UUID("6f1c3f0e-4a8b-4f52-9d4e-3c2b1a0f9e87")


@dataclass(frozen=True, slots=True)
class AtomicServiceId:
    """Identifies one atomic-service run."""

    runner_id: str
    atomic_service_run_id: str = field(default_factory=lambda: uuid4().hex)

    def __str__(self) -> str:
        return f"{self.runner_id}:{self.atomic_service_run_id}"


@dataclass(frozen=True, slots=True)
class AtomicServiceRun:
    """One cycle's slot claimed by a runner: who, which run, the slot and when it started.

    Built either from a composed ``atomic_service_id`` or from the flat ``runner_id`` /
    ``atomic_service_run_id`` pair (a missing run id gets a fresh one); both forms end up filled.
    """

    atomic_service_id: AtomicServiceId | None = None
    cycle_start: datetime | None = None
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    started_at: datetime | None = None
    runner_id: str | None = None
    atomic_service_run_id: str | None = None

    def __post_init__(self) -> None:
        service_id = self.atomic_service_id
        if service_id is None:
            if self.runner_id is None:
                raise ValueError("AtomicServiceRun needs atomic_service_id or runner_id")
            service_id = (
                AtomicServiceId(self.runner_id, self.atomic_service_run_id)
                if self.atomic_service_run_id is not None
                else AtomicServiceId(self.runner_id)
            )
            object.__setattr__(self, "atomic_service_id", service_id)
        elif (self.runner_id not in (None, service_id.runner_id)) or (
            self.atomic_service_run_id not in (None, service_id.atomic_service_run_id)
        ):
            raise ValueError(
                f"AtomicServiceRun got atomic_service_id {service_id} but runner_id="
                f"{self.runner_id!r}, atomic_service_run_id={self.atomic_service_run_id!r}"
            )
        object.__setattr__(self, "runner_id", service_id.runner_id)
        object.__setattr__(self, "atomic_service_run_id", service_id.atomic_service_run_id)

    @property
    def service_id(self) -> AtomicServiceId:
        """The composed id (always set once constructed)."""
        assert self.atomic_service_id is not None
        return self.atomic_service_id

    def __str__(self) -> str:
        window = (
            f" slot {self.slot_start:%H:%M:%S}-{self.slot_end:%H:%M:%S}"
            if self.slot_start and self.slot_end
            else ""
        )
        return f"{self.service_id}{window}"


class AtomicServiceDecisionReason(StrEnum):
    """Why a runner was, or was not, cleared to run the atomic services now."""

    ASSIGNED = auto()
    """Now is within this runner's window: start."""
    NOT_ASSIGNED_SLOT = auto()
    """Now is outside this runner's window (or the runner is not an eligible member)."""
    NO_STABLE_RUNNERS = auto()
    """No eligible runner is heartbeating."""
    SCHEDULED_RUNNER_IN_GRACE = auto()
    """This runner's window is now, but it joined too recently: the slot is held, unused."""
    SLOT_WINDOW_INVALID = auto()
    """The spread margin leaves no time in a slot: nobody can ever run; config must change."""
    LATE_START = auto()
    """This runner found its window too late (``atomic_service_max_start_slot_fraction``)."""

    def is_persisted(self) -> bool:
        """Whether this reason should be persisted as a BLOCKED execution."""
        return self in _PERSISTED_REASONS


_PERSISTED_REASONS = frozenset(
    {
        AtomicServiceDecisionReason.SCHEDULED_RUNNER_IN_GRACE,
        AtomicServiceDecisionReason.SLOT_WINDOW_INVALID,
        AtomicServiceDecisionReason.LATE_START,
    }
)


class ActiveRunnerInfo(NamedTuple):
    """A runner seen heartbeating, as the orchestrator tracks it."""

    runner_id: str
    creation_time: datetime
    last_heartbeat: datetime
    allow_to_run_atomic_service: bool = False


class AtomicServiceExecutionStatus(StrEnum):
    """Lifecycle status of a recorded atomic-service execution attempt."""

    RUNNING = "running"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    BLOCKED = "blocked"


class AtomicServiceExecution(NamedTuple):
    """A recorded atomic-service execution attempt by one runner."""

    atomic_service_id: AtomicServiceId
    start_time: datetime
    end_time: datetime | None
    status: AtomicServiceExecutionStatus
    reason: str = ""

    @classmethod
    def from_raw(
        cls,
        runner_id: str,
        atomic_service_run_id: str,
        start_time: datetime,
        end_time: datetime | None,
        status: AtomicServiceExecutionStatus = AtomicServiceExecutionStatus.RUNNING,
        reason: str = "",
    ) -> AtomicServiceExecution:
        return cls(
            AtomicServiceId(runner_id, atomic_service_run_id), start_time, end_time, status, reason
        )

    @property
    def runner_id(self) -> str:
        return self.atomic_service_id.runner_id

    @property
    def atomic_service_run_id(self) -> str:
        return self.atomic_service_id.atomic_service_run_id

    @property
    def atomic_service_run(self) -> AtomicServiceRun:
        """The run this record describes (its slot is not stored, only its start)."""
        return AtomicServiceRun(self.atomic_service_id, started_at=self.start_time)

    @property
    def is_active(self) -> bool:
        return self.status == AtomicServiceExecutionStatus.RUNNING

    @property
    def duration_seconds(self) -> float:
        if self.end_time is None:
            return 0.0
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True, slots=True)
class AtomicServiceClaim:
    """The scheduling decision for one runner at one instant: the only object callers use.

    ``atomic_service_run`` is set when the runner is cleared to start; ``skip_reason`` is set
    when the outcome should be recorded as a BLOCKED execution; the slot layout, the runner that
    owns the current instant and the messages are there for logs and monitoring.
    """

    runner_id: str
    reason: AtomicServiceDecisionReason
    cycle_start: datetime
    assigned_runner_id: str | None = None
    runner_position: int | None = None
    stable_runner_count: int = 0
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    is_slot_owner_now: bool = False
    atomic_service_run: AtomicServiceRun | None = None
    skip_message: str = ""
    late_start_fraction: float | None = None

    @property
    def should_try_start(self) -> bool:
        return self.atomic_service_run is not None

    @property
    def skip_reason(self) -> AtomicServiceDecisionReason | None:
        """The reason to record as a BLOCKED execution, if this outcome is one."""
        return self.reason if self.reason.is_persisted() else None

    @property
    def decision(self) -> AtomicServiceClaim:
        """The claim itself (kept for callers that name the result a decision)."""
        return self


@dataclass(slots=True)
class _ClaimBuilder:
    """Mutable scratch-pad. The scheduler mutates this object and then calls one of the named
    terminal methods, each of which calls :meth:`_build` exactly once with the right reason.

    Defaults represent the "skip, nothing to report" outcome: every branch only sets the fields
    that differ.
    """

    runner_id: str
    started_at: datetime
    current_time: float
    interval_seconds: float
    spread_minutes: float
    stabilization_seconds: float
    cycle_start: datetime = field(init=False)
    stable_runner_count: int = 0
    assigned_runner_id: str | None = None
    runner_position: int | None = None
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    is_slot_owner_now: bool = False

    def __post_init__(self) -> None:
        cycle_index = math.floor(self.current_time / self.interval_seconds)
        self.cycle_start = _dt(cycle_index * self.interval_seconds)

    def use_runners(self, total: int, assigned_runner_id: str) -> None:
        self.stable_runner_count = total
        self.assigned_runner_id = assigned_runner_id

    def set_position(self, position: int) -> None:
        self.runner_position = position

    def set_slot(self, window: tuple[datetime, datetime], *, is_owner: bool) -> None:
        self.slot_start, self.slot_end = window
        self.is_slot_owner_now = is_owner

    # ---- terminal methods --------------------------------------------------------------

    def no_runners(self) -> AtomicServiceClaim:
        return self._build(
            AtomicServiceDecisionReason.NO_STABLE_RUNNERS,
            skip_message="no heartbeating runner is allowed to run atomic services",
        )

    def not_in_stable_set(self) -> AtomicServiceClaim:
        return self._build(
            AtomicServiceDecisionReason.NOT_ASSIGNED_SLOT,
            skip_message=f"runner {self.runner_id} is not an eligible member of the schedule "
            "(no heartbeat seen yet, or not allowed to run atomic services)",
        )

    def not_in_slot(self) -> AtomicServiceClaim:
        return self._build(AtomicServiceDecisionReason.NOT_ASSIGNED_SLOT)

    def invalid_window(self) -> AtomicServiceClaim:
        count = self.stable_runner_count
        interval = self.interval_seconds / 60
        margin = self.spread_minutes
        return self._build(
            AtomicServiceDecisionReason.SLOT_WINDOW_INVALID,
            skip_message=(
                f"Atomic services cannot run: {count} runners share "
                f"atomic_service_interval_minutes={_num(interval)}, so each slot lasts "
                f"{_num(interval / count)} min, and atomic_service_spread_margin_minutes="
                f"{_num(margin)} leaves no time in it. Set atomic_service_interval_minutes "
                f"above {_num(count * margin)} (e.g. {_num(2 * count * margin)}) or "
                f"atomic_service_spread_margin_minutes below {_num(interval / count)} "
                f"(e.g. {_num(interval / (2 * count))})."
            ),
        )

    def in_grace(self, joined_seconds_ago: float) -> AtomicServiceClaim:
        return self._build(
            AtomicServiceDecisionReason.SCHEDULED_RUNNER_IN_GRACE,
            skip_message=f"runner {self.runner_id} joined {_num(joined_seconds_ago)}s ago, "
            f"within the {_num(self.stabilization_seconds)}s stabilization window: its slot is "
            "held but it may not start yet",
        )

    def late_start(self, fraction: float, max_fraction: float) -> AtomicServiceClaim:
        return self._build(
            AtomicServiceDecisionReason.LATE_START,
            skip_message=f"{fraction:.0%} of the slot had passed before runner {self.runner_id} "
            f"could start, more than atomic_service_max_start_slot_fraction={max_fraction:g}",
            late_start_fraction=fraction,
        )

    def cleared_to_start(self) -> AtomicServiceClaim:
        run_id = uuid.uuid5(
            _RUN_ID_NAMESPACE,
            f"{self.runner_id}|{self.cycle_start.isoformat()}|{_iso(self.slot_start)}",
        ).hex
        run = AtomicServiceRun(
            AtomicServiceId(self.runner_id, run_id),
            cycle_start=self.cycle_start,
            slot_start=self.slot_start,
            slot_end=self.slot_end,
            started_at=self.started_at,
        )
        return self._build(AtomicServiceDecisionReason.ASSIGNED, atomic_service_run=run)

    def _build(
        self,
        reason: AtomicServiceDecisionReason,
        *,
        atomic_service_run: AtomicServiceRun | None = None,
        skip_message: str = "",
        late_start_fraction: float | None = None,
    ) -> AtomicServiceClaim:
        return AtomicServiceClaim(
            runner_id=self.runner_id,
            reason=reason,
            cycle_start=self.cycle_start,
            assigned_runner_id=self.assigned_runner_id,
            runner_position=self.runner_position,
            stable_runner_count=self.stable_runner_count,
            slot_start=self.slot_start,
            slot_end=self.slot_end,
            is_slot_owner_now=self.is_slot_owner_now,
            atomic_service_run=atomic_service_run,
            skip_message=skip_message,
            late_start_fraction=late_start_fraction,
        )


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _num(value: float) -> str:
    return f"{value:.4g}"


def _boundary(cycle_start_ts: float, index: int, slot_size: float) -> float:
    """Start of slot ``index``: one expression, so the end of a slot is the next one's start."""
    return cycle_start_ts + index * slot_size


def _current_slot_index(cycle_start_ts: float, now: float, slot_size: float, count: int) -> int:
    """The position whose (uncut) slot contains ``now``."""
    index = min(max(int((now - cycle_start_ts) // slot_size), 0), count - 1)
    while index > 0 and _boundary(cycle_start_ts, index, slot_size) > now:
        index -= 1
    while index < count - 1 and _boundary(cycle_start_ts, index + 1, slot_size) <= now:
        index += 1
    return index


def _slot_window(
    cycle_start_ts: float,
    position: int,
    slot_size: float,
    spread_seconds: float,
    *,
    single_runner: bool,
) -> tuple[datetime, datetime] | None:
    """(start, end) for this position, or None when the margin is too wide."""
    start = _boundary(cycle_start_ts, position, slot_size)
    end = _boundary(cycle_start_ts, position + 1, slot_size)
    if single_runner:
        return _dt(start), _dt(end)
    end -= spread_seconds
    if end <= start:
        return None
    return _dt(start), _dt(end)


def _is_in_grace(runner: ActiveRunnerInfo, now: float, stabilization_seconds: float) -> bool:
    """Whether the runner joined less than ``stabilization_seconds`` ago (0 disables)."""
    if stabilization_seconds <= 0:
        return False
    return now - runner.creation_time.timestamp() < stabilization_seconds


def _late_start_fraction(
    started_at: datetime,
    slot_start: datetime | None,
    slot_end: datetime | None,
    max_fraction: float,
) -> float | None:
    """The share of the window already gone at ``started_at`` when it exceeds ``max_fraction``;
    None when the start is on time (or the check is disabled with 1.0)."""
    if slot_start is None or slot_end is None or max_fraction >= 1.0:
        return None
    length = (slot_end - slot_start).total_seconds()
    if length <= 0:
        return None
    fraction = (started_at - slot_start).total_seconds() / length
    return fraction if fraction > max_fraction else None


def _eligible_members(active_runners: Sequence[ActiveRunnerInfo]) -> list[ActiveRunnerInfo]:
    """The schedule's members, in the order every runner computes alike."""
    unique = {r.runner_id: r for r in active_runners if r.allow_to_run_atomic_service}
    return sorted(unique.values(), key=lambda r: (r.creation_time, r.runner_id))


def decide_atomic_service_claim(
    *,
    runner_id: str,
    active_runners: list[ActiveRunnerInfo],
    current_time: float,
    service_interval_minutes: float,
    spread_margin_minutes: float,
    membership_stabilization_seconds: float,
    max_start_slot_fraction: float,
) -> AtomicServiceClaim:
    """Decide whether ``runner_id`` should start the atomic services now.

    The cycle of ``service_interval_minutes`` starting at ``floor(now / interval) * interval``
    is split into equal slots, one per eligible runner ordered by (creation time, runner id);
    ``spread_margin_minutes`` is cut from the end of each slot (a lone runner keeps the whole
    cycle). A runner may start only inside its own window, once out of its stabilization grace,
    and no later than ``max_start_slot_fraction`` of the window.
    """
    if service_interval_minutes <= 0:
        raise ValueError("service_interval_minutes must be positive")
    interval_seconds = service_interval_minutes * 60
    builder = _ClaimBuilder(
        runner_id=runner_id,
        started_at=_dt(current_time),
        current_time=current_time,
        interval_seconds=interval_seconds,
        spread_minutes=spread_margin_minutes,
        stabilization_seconds=membership_stabilization_seconds,
    )
    members = _eligible_members(active_runners)
    if not members:
        return builder.no_runners()
    count = len(members)
    cycle_start_ts = builder.cycle_start.timestamp()
    slot_size = interval_seconds / count
    now_index = _current_slot_index(cycle_start_ts, current_time, slot_size, count)
    builder.use_runners(count, members[now_index].runner_id)
    position = next((i for i, r in enumerate(members) if r.runner_id == runner_id), None)
    if position is None:
        return builder.not_in_stable_set()
    builder.set_position(position)
    window = _slot_window(
        cycle_start_ts, position, slot_size, spread_margin_minutes * 60, single_runner=count == 1
    )
    if window is None:
        builder.is_slot_owner_now = now_index == position
        return builder.invalid_window()
    builder.set_slot(window, is_owner=window[0] <= builder.started_at < window[1])
    if not builder.is_slot_owner_now:
        return builder.not_in_slot()
    me = members[position]
    if _is_in_grace(me, current_time, membership_stabilization_seconds):
        return builder.in_grace(current_time - me.creation_time.timestamp())
    fraction = _late_start_fraction(
        builder.started_at, builder.slot_start, builder.slot_end, max_start_slot_fraction
    )
    if fraction is not None:
        return builder.late_start(fraction, max_start_slot_fraction)
    return builder.cleared_to_start()
