"""Recovery services: hand back to the queue the invocations nobody will finish.

- :func:`recover_pending_invocations`: PENDING for longer than ``max_pending_seconds`` (the
  claiming runner never started them) -> PENDING_RECOVERY -> REROUTED, queued again.
- :func:`recover_running_invocations`: RUNNING or PAUSED owned by a runner with no heartbeat
  within ``runner_considered_dead_after_minutes`` -> RUNNING_RECOVERY -> REROUTED, queued again.
  A parent runner heartbeats for its live children, so their invocations are left alone.

They run as atomic global services (one runner at a time, on their cron schedules; see
:mod:`pynenc.runner.atomic_services`) but are plain functions of the app. Every move is a
compare-and-set, so an owner that finishes at the same moment wins cleanly and nothing is queued
twice. Invocations left in a recovery status by an interrupted run are requeued by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pynenc.exceptions import PynencError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.orchestrator.base_orchestrator import InvocationQuery

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.invocation.dist_invocation import DistributedInvocation
    from pynenc.runner.runner_context import RunnerContext

ShouldStop = Callable[[], bool]
"""Asked between batches: True ends the service early (its slot is over, or the runner stops)."""

DEFAULT_BATCH_SIZE = 100


def _never() -> bool:
    return False


@dataclass(slots=True)
class RecoveryReport:
    """What one recovery pass did."""

    recovered: list[InvocationId] = field(default_factory=list)
    """Moved to the recovery status and queued again."""
    not_requeued: list[InvocationId] = field(default_factory=list)
    """Moved to the recovery status but not queued (e.g. the task cannot be imported here);
    the next pass tries again."""
    completed: bool = True
    """False when ``should_stop`` ended the pass before every candidate was seen."""


def recover_pending_invocations(
    app: Pynenc,
    runner_ctx: RunnerContext | None = None,
    *,
    should_stop: ShouldStop = _never,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RecoveryReport:
    """Requeue invocations PENDING for longer than ``max_pending_seconds``."""
    cutoff = app.clock.now() - timedelta(seconds=app.conf.max_pending_seconds)

    def stuck(record: InvocationStatusRecord) -> bool:
        return record.status == InvocationStatus.PENDING and record.timestamp < cutoff

    query = InvocationQuery(
        statuses=frozenset({InvocationStatus.PENDING}),
        status_changed_before=cutoff,
        limit=batch_size,
    )
    report = _recover(app, runner_ctx, query, stuck, InvocationStatus.PENDING_RECOVERY, should_stop)
    _log(app, report, f"PENDING for more than {app.conf.max_pending_seconds:g}s")
    return report


def recover_running_invocations(
    app: Pynenc,
    runner_ctx: RunnerContext | None = None,
    *,
    should_stop: ShouldStop = _never,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RecoveryReport:
    """Requeue RUNNING or PAUSED invocations whose owner stopped heartbeating."""
    active = {r.runner_id for r in app.orchestrator.get_active_runners()}

    def orphaned(record: InvocationStatusRecord) -> bool:
        owner = record.owner_id
        return record.status in _RUNNING_STATUSES and owner is not None and owner not in active

    query = InvocationQuery(statuses=_RUNNING_STATUSES, limit=batch_size)
    report = _recover(
        app, runner_ctx, query, orphaned, InvocationStatus.RUNNING_RECOVERY, should_stop
    )
    minutes = app.conf.runner_considered_dead_after_minutes
    _log(app, report, f"owned by runners silent for more than {minutes:g} min")
    return report


_RUNNING_STATUSES = frozenset({InvocationStatus.RUNNING, InvocationStatus.PAUSED})


def _recover(
    app: Pynenc,
    runner_ctx: RunnerContext | None,
    query: InvocationQuery,
    select: Callable[[InvocationStatusRecord], bool],
    recovery_status: InvocationStatus,
    should_stop: ShouldStop,
) -> RecoveryReport:
    """Move every selected invocation to ``recovery_status``, then requeue it, batch by batch."""
    ctx = runner_ctx or app.current_runner_context()
    orchestrator = app.orchestrator
    report = RecoveryReport()
    leftovers = InvocationQuery(statuses=frozenset({recovery_status}), limit=query.limit)
    for step_query, step_select in ((leftovers, None), (query, select)):
        page_query = step_query
        while True:
            if should_stop():
                report.completed = False
                return report
            page = orchestrator.query_invocations(page_query)
            if step_select is None:
                moved = list(page.invocation_ids)
            else:
                records = orchestrator.get_status_records(page.invocation_ids)
                moved = [
                    inv_id
                    for inv_id in page.invocation_ids
                    if inv_id in records
                    and step_select(records[inv_id])
                    and orchestrator.try_set_invocation_status(inv_id, recovery_status, ctx)
                ]
            _requeue(app, ctx, moved, report)
            if page.next_cursor is None:
                break
            page_query = replace(step_query, cursor=page.next_cursor)
    return report


def _requeue(
    app: Pynenc, ctx: RunnerContext, invocation_ids: Sequence[InvocationId], report: RecoveryReport
) -> None:
    """REROUTED and queued again; an invocation that cannot be loaded here stays in its
    recovery status for the next pass instead of being rerouted without a queue message."""
    if not invocation_ids:
        return
    loadable: list[DistributedInvocation[Any, Any]] = []
    for invocation_id in invocation_ids:
        try:
            invocation = app.state_backend.get_invocation(invocation_id)
            invocation.call.task.conf  # noqa: B018 - resolve the task (queue, priority) now
        except PynencError as exc:
            app.logger.warning("cannot requeue recovered invocation %s: %s", invocation_id[:7], exc)
            report.not_requeued.append(invocation_id)
            continue
        loadable.append(invocation)
    report.recovered.extend(app.orchestrator.reroute_invocations(loadable, ctx))


def _log(app: Pynenc, report: RecoveryReport, why: str) -> None:
    if report.recovered:
        app.logger.info(
            "recovered %d invocation(s) %s: %s",
            len(report.recovered),
            why,
            ", ".join(i[:7] for i in report.recovered[:20])
            + (" ..." if len(report.recovered) > 20 else ""),
        )
