"""Atomic global services: records of who ran the cluster-wide services (triggers, recovery).

The slot scheduler itself (``decide_atomic_service_claim``) builds on these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple
from uuid import uuid4


@dataclass(frozen=True, slots=True)
class AtomicServiceId:
    """Identifies one atomic-service run."""

    runner_id: str
    atomic_service_run_id: str = field(default_factory=lambda: uuid4().hex)

    def __str__(self) -> str:
        return f"{self.runner_id}:{self.atomic_service_run_id}"


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
    def is_active(self) -> bool:
        return self.status == AtomicServiceExecutionStatus.RUNNING

    @property
    def duration_seconds(self) -> float:
        if self.end_time is None:
            return 0.0
        return (self.end_time - self.start_time).total_seconds()
