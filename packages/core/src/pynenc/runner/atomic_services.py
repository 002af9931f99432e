"""The runner side of the atomic global services.

Every ``atomic_service_check_interval_minutes``, and when its own slot is due to start, a
low-frequency thread of each top-level runner reads the active runners, asks
:func:`decide_atomic_service_claim` whether this runner's slot has come and, when it has, runs
the services of :func:`default_atomic_services` in order, time-boxed to the end of the slot.
Each attempt is recorded as an :class:`AtomicServiceExecution` (RUNNING, then COMPLETED or
ABANDONED; BLOCKED for a slot that could not be used). Nothing here runs on the invocation hot
path.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from croniter import CroniterError, croniter

from pynenc.exceptions import ConfigValueError
from pynenc.invocation import context
from pynenc.orchestrator.atomic_service import (
    AtomicServiceClaim,
    AtomicServiceDecisionReason,
    AtomicServiceExecution,
    AtomicServiceExecutionStatus,
    AtomicServiceId,
    AtomicServiceRun,
    decide_atomic_service_claim,
)
from pynenc.orchestrator.recovery import recover_pending_invocations, recover_running_invocations

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.conf.config_pynenc import ConfigPynenc
    from pynenc.runner.base_runner import BaseRunner
    from pynenc.runner.runner_context import RunnerContext

_Status = AtomicServiceExecutionStatus
_Reason = AtomicServiceDecisionReason

HAND_OVER_POLL_SECONDS = 0.5
"""How often a runner looks whether the runner before it has finished, in the gap before its
slot."""

SLOT_WAKE_DELAY_SECONDS = 0.001
"""How long after its slot's start a runner checks: past the boundary, whatever the rounding."""

CRON_CONDITION_PREFIX = "pynenc.atomic_service:"
"""Namespace of the cron last-run records (``BaseTrigger.claim_cron_tick``) of the services."""


@dataclass(frozen=True, slots=True)
class AtomicServiceContext:
    """What a service gets for one slot: the app, the runner acting, and when it must stop."""

    app: Pynenc
    runner_ctx: RunnerContext
    deadline: float
    """End of the slot, in ``app.clock.time()`` seconds."""
    stop_event: threading.Event

    def time_left(self) -> float:
        return self.deadline - self.app.clock.time()

    def should_stop(self) -> bool:
        """True once the slot is over or the runner is stopping: finish the current step only."""
        return self.stop_event.is_set() or self.app.clock.time() >= self.deadline

    def stop_reason(self) -> str:
        return "stopped" if self.stop_event.is_set() else "timeout"


class AtomicGlobalService(ABC):
    """One service run inside the slot (recovery, the trigger loop)."""

    name: str

    @abstractmethod
    def run(self, ctx: AtomicServiceContext) -> bool:
        """Do this slot's work, checking ``ctx.should_stop()`` between steps; return False when
        it stopped before finishing."""


def latest_cron_tick(expression: str, now: datetime) -> datetime:
    """The most recent time at or before ``now`` that ``expression`` fires."""
    previous: datetime = croniter(expression, now).get_prev(datetime)
    following: datetime = croniter(expression, previous).get_next(datetime)
    return following if following <= now else previous


def validate_cron_expression(expression: str, field_name: str, source: str, now: datetime) -> None:
    """Refuse an expression croniter cannot read or that never fires, naming the field."""
    try:
        croniter(expression, now).get_next(datetime)
        latest_cron_tick(expression, now)
    except (CroniterError, ValueError, KeyError) as exc:
        raise ConfigValueError(
            field_name, expression, source, "a cron expression that fires", str(exc)
        ) from exc


class CronScheduledService(AtomicGlobalService):
    """Runs ``work`` in a slot only when a cron tick fell since its last run.

    The tick is claimed through the trigger component's cron compare-and-set before the work
    starts, so two runners never run the same tick; ticks missed meanwhile collapse into the
    latest one. A run cut short by the end of the slot still consumes its tick (the work is
    idempotent and the next tick picks up what is left).
    """

    def __init__(
        self,
        name: str,
        cron_expression: str,
        work: Callable[[AtomicServiceContext], bool],
        *,
        field_name: str = "cron expression",
        source: str = "",
        now: datetime | None = None,
    ) -> None:
        validate_cron_expression(cron_expression, field_name, source, now or datetime.now(UTC))
        self.name = name
        self.cron_expression = cron_expression
        self.condition_id = f"{CRON_CONDITION_PREFIX}{name}"
        self._work = work

    def run(self, ctx: AtomicServiceContext) -> bool:
        tick = latest_cron_tick(self.cron_expression, ctx.app.clock.now())
        if not ctx.app.trigger.claim_cron_tick(self.condition_id, tick):
            return True
        ctx.app.logger.debug("atomic service %s running for tick %s", self.name, tick)
        return self._work(ctx)


def _recover_pending(ctx: AtomicServiceContext) -> bool:
    return recover_pending_invocations(
        ctx.app, ctx.runner_ctx, should_stop=ctx.should_stop
    ).completed


def _recover_running(ctx: AtomicServiceContext) -> bool:
    return recover_running_invocations(
        ctx.app, ctx.runner_ctx, should_stop=ctx.should_stop
    ).completed


def _purge_final(ctx: AtomicServiceContext) -> bool:
    ctx.app.orchestrator.purge_final_invocations()
    return True


PURGE_CRON = "7 * * * *"
"""The orchestrator forgets old final invocations once an hour
(``auto_final_invocation_purge_hours`` decides which)."""


def _cron_service(
    app: Pynenc, name: str, field_name: str, work: Callable[[AtomicServiceContext], bool]
) -> CronScheduledService:
    return CronScheduledService(
        name,
        getattr(app.conf, field_name),
        work,
        field_name=field_name,
        source=str(app.conf.source_of(field_name)),
        now=app.clock.now(),
    )


def default_atomic_services(app: Pynenc) -> list[AtomicGlobalService]:
    """The services a runner executes in its slot, in this order: the recoveries, then the
    trigger loop (last, since it keeps the slot until it ends; see
    :mod:`pynenc.trigger.trigger_service`).

    This list is the extension point. Building it validates the cron fields, so a bad
    expression fails when the runner starts.
    """
    from pynenc.trigger.trigger_service import TriggerService

    return [
        _cron_service(
            app, "recover_pending_invocations", "recover_pending_invocations_cron", _recover_pending
        ),
        _cron_service(
            app, "recover_running_invocations", "recover_running_invocations_cron", _recover_running
        ),
        CronScheduledService(
            "purge_final_invocations", PURGE_CRON, _purge_final, now=app.clock.now()
        ),
        TriggerService(),
    ]


def validate_atomic_service_timings(conf: ConfigPynenc) -> None:
    """Refuse timings that leave no usable slot even to a runner alone in the schedule (its
    window is the whole cycle), naming the option to change."""
    interval = conf.atomic_service_interval_minutes
    margin = conf.atomic_service_min_run_margin_seconds
    if margin >= interval * 60:
        raise ConfigValueError(
            "atomic_service_min_run_margin_seconds",
            margin,
            str(conf.source_of("atomic_service_min_run_margin_seconds")),
            f"fewer seconds than the cycle ({interval * 60:g} s)",
            "no run could ever start: lower it or raise atomic_service_interval_minutes",
        )
    fraction = conf.atomic_service_max_start_slot_fraction
    check = conf.atomic_service_check_interval_minutes
    if fraction < 1 and check > fraction * interval:
        raise ConfigValueError(
            "atomic_service_check_interval_minutes",
            check,
            str(conf.source_of("atomic_service_check_interval_minutes")),
            f"at most atomic_service_max_start_slot_fraction x atomic_service_interval_minutes "
            f"({fraction * interval:g} min)",
            "checks this far apart can all fall after the late-start limit of the slot",
        )


class AtomicServiceLoop:
    """A runner's participation in the schedule: the check thread and what it remembers.

    It remembers the last cycle it ran in (one run per cycle), the BLOCKED outcomes already
    recorded this cycle (one record per reason per cycle, not one per check) and whether the
    invalid-window warning was given (once per runner).
    """

    def __init__(self, runner: BaseRunner, services: list[AtomicGlobalService] | None = None):
        validate_atomic_service_timings(runner.app.conf)
        self.runner = runner
        self.app = runner.app
        self.services: list[AtomicGlobalService] = (
            default_atomic_services(runner.app) if services is None else services
        )
        self._stop = runner._stop_event
        self._thread: threading.Thread | None = None
        self._last_run_cycle: datetime | None = None
        self._blocked_cycle: datetime | None = None
        self._blocked_reasons: set[AtomicServiceDecisionReason] = set()
        self._warned_invalid_window = False
        self._interval = self.app.conf.atomic_service_check_interval_minutes * 60
        self._next_check = 0.0
        self._slot_wake = math.inf
        """When (``clock.monotonic()``) this runner's next slot starts: the loop checks then
        too, so a slot is used from its start, not from the first regular check in it."""
        self._started_at: float | None = None
        self.current_run: AtomicServiceRun | None = None
        """The run in progress, if any (for monitoring and tests)."""
        self.last_check_time: float | None = None
        """``app.clock.time()`` when the last check (and any run it started) finished."""

    # ---- thread -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the check thread; the first check comes one interval from now, when the
        membership has seen this runner's first heartbeats."""
        self._next_check = self.app.clock.monotonic() + self._interval
        self._started_at = self.app.clock.time()
        thread = threading.Thread(
            target=self._loop, name=f"pynenc-atomic-{self.runner.runner_id}", daemon=True
        )
        self._thread = thread
        thread.start()

    def _running_for_a_cycle(self) -> bool:
        """A late start is only worth a warning once the runner has had a whole cycle to find
        its slot (right after start, joining late in the slot is normal)."""
        if self._started_at is None:
            return True
        cycle = self.app.conf.atomic_service_interval_minutes * 60
        return self.app.clock.time() - self._started_at > cycle

    @property
    def started(self) -> bool:
        """Whether the check thread runs (its check cadence is fixed from then on)."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        """Check on a fixed grid of the app's clock; a run longer than the interval skips the
        checks it covered instead of bunching them up."""
        context.current_runner.set(self.runner)
        clock = self.app.clock
        while not clock.wait_until(self._stop, min(self._next_check, self._slot_wake)):
            self.check()
            now = clock.monotonic()
            while self._next_check <= now:
                self._next_check += self._interval

    # ---- one check ----------------------------------------------------------------------

    def check(self) -> AtomicServiceClaim | None:
        """Decide and act on the decision; never raises (the loop must survive anything)."""
        try:
            claim = self.decide()
            ran = self._act(claim) or self._take_over(claim)
            # after a run (which lasts until its slot ends) the claim is stale: check again at
            # once, with the time and membership of now
            self._slot_wake = self.app.clock.monotonic() if ran else self._next_wake(claim)
            return claim
        except Exception:
            self.runner.logger.exception("atomic service check failed; next check in due time")
            return None
        finally:
            self.last_check_time = self.app.clock.time()

    def _next_slot_start(self, claim: AtomicServiceClaim) -> float | None:
        """When (``clock.time()``) this runner's slot next starts, assuming the membership
        stays as the claim saw it (None when the runner has no slot)."""
        if claim.slot_start is None:
            return None
        cycle = self.app.conf.atomic_service_interval_minutes * 60
        now = self.app.clock.time()
        start = claim.slot_start.timestamp()
        while start <= now:  # its slot of this cycle began already: the next cycle's
            start += cycle
        return start

    def _hand_over_from(self, claim: AtomicServiceClaim, slot_start: float) -> float | None:
        """When the window of the runner before this one ends (the spread margin before this
        runner's slot), if there is such a gap."""
        margin = self.app.conf.atomic_service_spread_margin_minutes * 60
        if claim.stable_runner_count < 2 or margin <= 0:
            return None
        return slot_start - margin

    def _next_wake(self, claim: AtomicServiceClaim) -> float:
        """The monotonic time of the next check besides the regular ones: the start of this
        runner's slot, or of the gap before it (see :meth:`_take_over`), polled every
        :data:`HAND_OVER_POLL_SECONDS` while in that gap."""
        slot_start = self._next_slot_start(claim)
        if slot_start is None:
            return math.inf
        clock = self.app.clock
        now = clock.time()
        wake = slot_start + SLOT_WAKE_DELAY_SECONDS
        gap = self._hand_over_from(claim, slot_start)
        if gap is not None:
            wake = min(wake, max(gap + SLOT_WAKE_DELAY_SECONDS, now + HAND_OVER_POLL_SECONDS))
        return clock.monotonic() + (wake - now)

    def _take_over(self, claim: AtomicServiceClaim) -> bool:
        """In the gap before this runner's slot, start the slot early once the runner before
        it has finished its run of that window (its execution is recorded as ended, and a
        runner runs once per cycle): the spread margin guards against clock skew when nothing
        says the previous run is over, and costs nothing more when something does. Returns
        whether the services ran."""
        if claim.reason != _Reason.NOT_ASSIGNED_SLOT or claim.assigned_runner_id in (
            None,
            self.runner.runner_id,
        ):
            return False
        slot_start = self._next_slot_start(claim)
        if slot_start is None:
            return False
        gap = self._hand_over_from(claim, slot_start)
        now = self.app.clock.time()
        if gap is None or not gap <= now < slot_start:
            return False
        # the previous runner's run of this window began at the earliest when it took over in
        # the gap before its own slot (one slot, plus that gap, before this runner's slot)
        slot_size = self.app.conf.atomic_service_interval_minutes * 60 / claim.stable_runner_count
        if not self._finished_since(claim.assigned_runner_id, gap - slot_size):
            return False
        early = self.decide(at=slot_start)
        run = early.atomic_service_run
        if run is None or self._last_run_cycle == early.cycle_start:
            return False
        self._last_run_cycle = early.cycle_start
        self.runner.logger.debug(
            "atomic services: runner %s finished its window, starting %.1fs early",
            claim.assigned_runner_id,
            slot_start - now,
        )
        self._execute(run)
        return True

    def _finished_since(self, runner_id: str | None, since: float) -> bool:
        """Whether ``runner_id``'s latest execution started at or after ``since`` (epoch
        seconds) and has ended (completed or abandoned), and no execution of the last cycle
        is still running (one started under another membership may run to its old slot's
        end; a run never outlasts a cycle, so an older RUNNING record is a dead runner's)."""
        recent = self.app.clock.time() - self.app.conf.atomic_service_interval_minutes * 60
        latest: AtomicServiceExecution | None = None
        for execution in self.app.orchestrator.get_atomic_service_executions(limit=50):
            started = execution.start_time.timestamp()
            if execution.status == _Status.RUNNING and started >= recent:
                return False
            if (
                latest is None
                and execution.runner_id == runner_id
                and execution.status != _Status.BLOCKED
            ):
                latest = execution
        return (
            latest is not None
            and latest.start_time.timestamp() >= since
            and latest.status
            in (
                _Status.COMPLETED,
                _Status.ABANDONED,
            )
        )

    def decide(self, at: float | None = None) -> AtomicServiceClaim:
        """The decision for now (or for the moment ``at``, in ``clock.time()`` seconds)."""
        conf = self.app.conf
        return decide_atomic_service_claim(
            runner_id=self.runner.runner_id,
            active_runners=self.app.orchestrator.get_active_runners(),
            current_time=self.app.clock.time() if at is None else at,
            service_interval_minutes=conf.atomic_service_interval_minutes,
            spread_margin_minutes=conf.atomic_service_spread_margin_minutes,
            membership_stabilization_seconds=conf.atomic_service_membership_stabilization_minutes
            * 60,
            max_start_slot_fraction=conf.atomic_service_max_start_slot_fraction,
        )

    def _act(self, claim: AtomicServiceClaim) -> bool:
        """Act on the decision; returns whether the services ran."""
        if claim.reason == _Reason.SLOT_WINDOW_INVALID and not self._warned_invalid_window:
            self._warned_invalid_window = True
            self.runner.logger.warning("%s", claim.skip_message)
        if self._last_run_cycle == claim.cycle_start:
            return False
        if claim.skip_reason is not None:
            if claim.is_slot_owner_now:
                self._record_blocked_once(claim, claim.skip_reason)
            return False
        run = claim.atomic_service_run
        if run is None:
            return False
        self._last_run_cycle = claim.cycle_start
        self._execute(run)
        return True

    def _record_blocked_once(self, claim: AtomicServiceClaim, reason: _Reason) -> None:
        if self._blocked_cycle != claim.cycle_start:
            self._blocked_cycle = claim.cycle_start
            self._blocked_reasons = set()
        if reason in self._blocked_reasons:
            return
        self._blocked_reasons.add(reason)
        now = self.app.clock.now()
        self.app.orchestrator.finalize_atomic_service_execution(
            AtomicServiceExecution(
                AtomicServiceId(self.runner.runner_id), now, now, _Status.BLOCKED, reason.value
            )
        )
        if reason == _Reason.LATE_START and self._running_for_a_cycle():
            self.runner.logger.warning(
                "atomic services skipped this cycle: %s; lower "
                "atomic_service_check_interval_minutes so runners find their slot in time",
                claim.skip_message,
            )
        elif reason == _Reason.LATE_START:
            self.runner.logger.info(
                "atomic services skipped this cycle (the runner started late in its slot): %s",
                claim.skip_message,
            )
        elif reason == _Reason.SCHEDULED_RUNNER_IN_GRACE:
            self.runner.logger.info("atomic services skipped this cycle: %s", claim.skip_message)

    def _execute(self, run: AtomicServiceRun) -> None:
        """Record RUNNING, run the services within the slot, record how it ended."""
        orchestrator = self.app.orchestrator
        execution = AtomicServiceExecution(
            run.service_id, self.app.clock.now(), None, _Status.RUNNING
        )
        orchestrator.record_atomic_service_execution(execution)
        self.current_run = run
        try:
            status, reason = self._run_services(run)
        finally:
            self.current_run = None
        orchestrator.finalize_atomic_service_execution(
            execution._replace(end_time=self.app.clock.now(), status=status, reason=reason)
        )
        unexpected = status != _Status.COMPLETED and reason != "stopped"
        log = self.runner.logger.warning if unexpected else self.runner.logger.debug
        log("atomic services run %s %s%s", run, status.value, f": {reason}" if reason else "")

    def _run_services(self, run: AtomicServiceRun) -> tuple[_Status, str]:
        assert run.slot_end is not None
        deadline = run.slot_end.timestamp()
        if deadline - self.app.clock.time() < self.app.conf.atomic_service_min_run_margin_seconds:
            return _Status.ABANDONED, "no_margin"
        ctx = AtomicServiceContext(self.app, self.runner.runner_context, deadline, self._stop)
        errors: list[str] = []
        for service in self.services:
            if ctx.should_stop():
                return _Status.ABANDONED, ctx.stop_reason()
            try:
                finished = service.run(ctx)
            except Exception as exc:
                self.runner.logger.exception("atomic service %s failed", service.name)
                errors.append(f"{service.name}: {type(exc).__name__}: {exc}")
                continue
            if not finished:
                return _Status.ABANDONED, ctx.stop_reason()
        if errors:
            return _Status.ABANDONED, "error: " + "; ".join(errors)
        return _Status.COMPLETED, ""
