"""The orchestrator contract: statuses, their atomic transitions, and scheduling decisions.

The base class holds the policy (validation against the status table, caching, history,
notification order, routing); a backend implements the ``_underscore`` storage primitives, each
of which must be one atomic step in its store.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, NoReturn

from pynenc.conf.config_orchestrator import ConfigOrchestrator
from pynenc.exceptions import (
    ConcurrencyControlError,
    CycleDetectedError,
    InvocationStatusError,
    InvocationStatusNotFoundError,
)
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import (
    FINAL_STATUSES,
    InvocationStatus,
    InvocationStatusRecord,
    TransitionRule,
    check_transition,
    transition_rule,
)
from pynenc.orchestrator.atomic_service import ActiveRunnerInfo, AtomicServiceExecution
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.util.cache import LRUCache, TTLCache
from pynenc.util.waiting import AdaptiveBackoff
from pynenc.workflow.tracking import record_workflow_membership

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.broker.base_broker import BrokerMessage
    from pynenc.call import Call
    from pynenc.invocation.dist_invocation import DistributedInvocation, InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext


def _history(
    invocation_id: InvocationId, record: InvocationStatusRecord, ctx: RunnerContext
) -> InvocationHistory:
    return InvocationHistory(invocation_id, record, ctx.runner_id, None, record.timestamp)


def claim_history(invocation_id: InvocationId, record: InvocationStatusRecord) -> InvocationHistory:
    """The history entry of a claim (or of the start that follows it): by the claiming runner,
    the one the record names."""
    return InvocationHistory(invocation_id, record, record.runner_id or "", None, record.timestamp)


_START_DELAY = timedelta(microseconds=1)
"""How much later than its claim a claimed invocation is recorded as started when both happen
in one step (its history stays ordered by time)."""


_MAX_ANCESTORS = 256
"""How far up the parent chain cycle control looks."""


@dataclass(frozen=True, slots=True)
class OrchestratorEntry:
    """What the orchestrator indexes about an invocation when it is registered."""

    invocation_id: InvocationId
    task_id: str
    call_id: str
    registered_at: datetime
    queue: str = "default"
    priority: int = 0
    registration_key: str | None = None
    """Set when registration concurrency is on: while an invocation with this key is
    REGISTERED, an equivalent call reuses it instead of registering another."""
    running_key: str | None = None
    """Set when running concurrency is on: at most one invocation with this key may be active
    (PENDING, RUNNING or PAUSED) at a time."""


@dataclass(frozen=True, slots=True)
class CasResult:
    """Outcome of a compare-and-set status change: whether it applied, what was there, and,
    when an exclusive move was refused by running concurrency, which invocation holds the key."""

    applied: bool
    previous: InvocationStatusRecord | None
    conflict: InvocationId | None = None


@dataclass(frozen=True, slots=True)
class InvocationQuery:
    """A filter over the invocations the orchestrator holds; every field narrows the result."""

    task_ids: frozenset[str] | None = None
    statuses: frozenset[InvocationStatus] | None = None
    registered_after: datetime | None = None
    registered_before: datetime | None = None
    status_changed_before: datetime | None = None
    owner_ids: frozenset[str] | None = None
    call_id: str | None = None
    registration_key: str | None = None
    running_key: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One retrieval round of a runner: how much work it takes and how it claims it."""

    runner_id: str
    max_count: int
    start: bool = False
    """The runner executes what it claims at once: the round moves each claimed invocation on
    to RUNNING in the same step (PENDING then RUNNING, two history entries)."""
    queues: tuple[str, ...] | None = None
    timeout: float | None = None
    """Longest wait for due work (None: the broker's ``broker_retrieve_timeout_seconds``)."""
    waited_first: bool = False
    """Blocking control: claim the runnable invocations others wait on ahead of the queue."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of one invocation's claim in a runner's round."""

    result: CasResult
    record: InvocationStatusRecord
    """The PENDING record the claim was attempted with."""
    started: InvocationStatusRecord | None = None
    """The RUNNING record, when the claim applied and the invocation was moved on in the same
    round (:attr:`ClaimRequest.start`)."""


class PendingFinals:
    """What a result waiter still waits on, checked a window at a time from the oldest.

    A waiter returns only once every invocation is final, so it need not look past the first
    one that is not: each check costs at most :attr:`WINDOW` lookups however large the group,
    and the whole wait costs lookups in proportion to its size, not to its size times the
    number of checks."""

    WINDOW: ClassVar[int] = 256

    def __init__(self, invocation_ids: Iterable[InvocationId]) -> None:
        self._pending: deque[InvocationId] = deque(dict.fromkeys(invocation_ids))
        self.found: dict[InvocationId, InvocationStatusRecord] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def check(
        self,
        read: Callable[[list[InvocationId]], dict[InvocationId, InvocationStatusRecord]],
    ) -> bool:
        """Read the final records of the oldest pending invocations, window by window, while
        whole windows are final; returns whether any was found."""
        before = len(self.found)
        while self._pending:
            window = [self._pending.popleft() for _ in range(min(self.WINDOW, len(self._pending)))]
            finals = read(window)
            self.found.update(finals)
            if len(finals) < len(window):
                self._pending.extendleft(reversed([i for i in window if i not in finals]))
                break
        return len(self.found) > before


class FinalMove(NamedTuple):
    """A final move (:meth:`BaseOrchestrator._finalize`): the transition with its history and
    the result or exception it stores."""

    invocation_id: InvocationId
    rule: TransitionRule
    record: InvocationStatusRecord
    history: InvocationHistory
    serialized_result: str | None
    serialized_exception: str | None


@dataclass(slots=True)
class InvocationPage:
    """One page of invocation ids, oldest registration first; ``next_cursor`` fetches the next."""

    invocation_ids: list[InvocationId] = field(default_factory=list)
    next_cursor: str | None = None


class BaseOrchestrator(ABC):
    """Owns invocation statuses and the decisions about what runs where and when."""

    config_cls: ClassVar[type[ConfigOrchestrator]] = ConfigOrchestrator
    waits_with_final_step: ClassVar[bool] = False
    """Whether :meth:`_finalize_and_claim` may wait for work (``request.timeout``) in the same
    round trip as the final step; where it cannot, a final step never waits."""

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)
        self._final_cache: LRUCache[InvocationId, InvocationStatusRecord] = LRUCache(
            self.conf.status_cache_size
        )
        self._ancestry: LRUCache[InvocationId, tuple[str, InvocationId | None]] = LRUCache(
            self.conf.status_cache_size
        )
        self._status_cache: TTLCache[InvocationId, InvocationStatusRecord] = TTLCache(
            self.conf.status_cache_size, app.conf.cached_status_time, app.clock.monotonic
        )
        self._next_requests: LRUCache[tuple[str, int, float], ClaimRequest] = LRUCache(64)
        """The claim a finishing invocation's runner makes for its slot (by runner, count,
        wait)."""

    def open_connections(self) -> None:
        """Open what this component needs to serve this process (a connection), so the first
        real call does not pay for it; a process started to run one call does this while it
        waits for the call. Errors are left to that call. The default opens nothing."""

    # ------------------------------------------------------------------ storage primitives

    @abstractmethod
    def _register_invocations(
        self, entries: Sequence[OrchestratorEntry], record: InvocationStatusRecord
    ) -> dict[InvocationId, InvocationId]:
        """Store new invocations in status ``record`` (REGISTERED), in one step per batch.

        An entry with a ``registration_key`` shared by an invocation that is REGISTERED at
        that moment is not stored; the returned mapping gives, for each such entry, the id of
        the invocation it reuses (checked in the same atomic step, so racing clients register
        one invocation per key). An entry whose invocation id is already stored (registered
        before, by this client or another one: a trigger run fired by two runners derives the
        same id) is left as it is, whatever its status now, and maps to itself."""

    @abstractmethod
    def _cas_status(
        self, invocation_id: InvocationId, rule: TransitionRule, record: InvocationStatusRecord
    ) -> CasResult:
        """Atomically: read the current record, apply ``record`` if ``rule.allows`` it.

        When ``rule.exclusive`` and the invocation has a ``running_key``, the move also requires
        that no other invocation with that key is in an active status (PENDING, RUNNING,
        PAUSED); if one is, nothing changes and its id is returned as ``conflict``.
        Returns the record found before the attempt (None when the invocation is unknown).
        When the new status is final, the backend must not wake result waiters yet:
        :meth:`_notify_final` is called once the result or exception is stored.
        """

    @abstractmethod
    def _get_status_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Current records of the given invocations (unknown ids are left out)."""

    @abstractmethod
    def _increment_retries(self, invocation_id: InvocationId) -> int:
        """Add one to the invocation's retry count and return the new count."""

    @abstractmethod
    def _get_retries(self, invocation_id: InvocationId) -> int:
        """The invocation's retry count (0 when never retried or unknown)."""

    @abstractmethod
    def _query_invocations(self, query: InvocationQuery) -> InvocationPage:
        """Invocations matching every given filter, oldest registration first."""

    @abstractmethod
    def _count_by_status(self, task_id: str | None) -> dict[InvocationStatus, int]:
        """How many invocations (of one task, or all) are in each status."""

    @abstractmethod
    def _notify_final(self, invocation_ids: Sequence[InvocationId]) -> None:
        """Wake whoever waits on these invocations: their final result is now stored."""

    @abstractmethod
    def _register_heartbeats(
        self, runner_ids: Sequence[str], can_run_atomic_service: bool, now: datetime
    ) -> None:
        """Record that the runners are alive (creating them on first sight)."""

    @abstractmethod
    def _get_runner_infos(self) -> list[ActiveRunnerInfo]:
        """Every runner the orchestrator knows, active or not."""

    @abstractmethod
    def _remove_runners(self, runner_ids: Sequence[str]) -> None:
        """Forget runners (stopped cleanly, or silent for too long)."""

    @abstractmethod
    def _store_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        """Insert or replace (by run id) an atomic-service execution record."""

    @abstractmethod
    def _get_atomic_service_executions(self, limit: int) -> list[AtomicServiceExecution]:
        """The most recent execution records, newest first."""

    @abstractmethod
    def _trim_atomic_service_executions(self, ended_before: datetime | None, keep: int) -> None:
        """Delete records that ended before ``ended_before``, then all but the newest ``keep``
        (0 keeps all)."""

    @abstractmethod
    def _add_waiting(self, waiter_id: InvocationId, waited_ids: Sequence[InvocationId]) -> None:
        """Record that ``waiter_id`` is blocked until the ``waited_ids`` finish."""

    @abstractmethod
    def _remove_waiting(self, waiter_id: InvocationId) -> None:
        """Forget what ``waiter_id`` was waiting on."""

    @abstractmethod
    def _get_waited_ids(self, limit: int) -> list[InvocationId]:
        """Invocations others wait on, the most waited-on first."""

    @abstractmethod
    def _get_waiting_for(self, waiter_id: InvocationId) -> list[InvocationId]:
        """What ``waiter_id`` is currently waiting on."""

    @abstractmethod
    def _delete_invocations(self, invocation_ids: Sequence[InvocationId]) -> None:
        """Remove invocations from the orchestrator (the state backend keeps their history)."""

    @abstractmethod
    def purge(self) -> None:
        """Delete everything this orchestrator stores for the app."""

    # ------------------------------------------------------------------ composite steps
    # Each of these writes to several components. The defaults call every component's
    # primitive in turn; a backend whose components share one store (SQLite file, Redis
    # server) overrides them to do the same writes in one transaction or one script.

    def _cas_status_and_history(
        self,
        invocation_id: InvocationId,
        rule: TransitionRule,
        record: InvocationStatusRecord,
        history: InvocationHistory,
    ) -> CasResult:
        """:meth:`_cas_status`, and the history entry when it applies."""
        result = self._cas_status(invocation_id, rule, record)
        if result.applied:
            self.app.state_backend._add_histories([history])
        return result

    def _claim_many(
        self,
        invocation_ids: Sequence[InvocationId],
        record: InvocationStatusRecord,
        histories: dict[InvocationId, InvocationHistory],
    ) -> dict[InvocationId, CasResult]:
        """Claims (moves to PENDING) of several invocations, each on its own terms."""
        rule = transition_rule(record.status)
        return {
            i: self._cas_status_and_history(i, rule, record, histories[i]) for i in invocation_ids
        }

    def _claim_round(self, request: ClaimRequest) -> dict[InvocationId, Claim]:
        """A runner's retrieval round: with blocking control the runnable invocations others
        wait on, then due messages (waiting up to ``request.timeout`` while there is none),
        each claimed on its own terms (:meth:`_claim_many`) and, with ``request.start``,
        moved on to RUNNING; the messages are acknowledged once their claim is decided.
        Returns every examined invocation's claim, in claim order. Claim records come from
        :meth:`_claim_record` and :meth:`_start_record`, taken when each step is made (a
        backend doing both in one step must still record the start after the claim, and both
        after whatever the claim depended on)."""
        claims: dict[InvocationId, Claim] = {}
        if request.waited_first:
            waited = self._runnable_waited_ids(request.max_count)
            if waited:
                with self._claim_step():
                    self._claim_into(claims, waited, request)
        claimed = sum(1 for c in claims.values() if c.result.applied)
        wanted = request.max_count - claimed
        if wanted > 0:
            broker = self.app.broker
            delivered = broker.retrieve_invocations(
                wanted, request.queues, 0.0 if claimed else request.timeout
            )
            if delivered:
                with self._claim_step():
                    self._claim_into(claims, delivered, request)
                    broker.ack_invocations(delivered)
        return claims

    def _claim_step(self) -> AbstractContextManager[object]:
        """What each batch of a round's claims (and starts, and the acknowledgement of its
        messages) runs in: a backend that can makes it one transaction. Retrieval and waiting
        stay outside it."""
        return nullcontext()

    def _claim_into(
        self,
        claims: dict[InvocationId, Claim],
        invocation_ids: Sequence[InvocationId],
        request: ClaimRequest,
    ) -> None:
        ids = [i for i in dict.fromkeys(invocation_ids) if i not in claims]
        if not ids:
            return
        record = self._claim_record(request.runner_id)
        results = self._claim_many(ids, record, {i: claim_history(i, record) for i in ids})
        running = self._start_record(record) if request.start else None
        start_rule = transition_rule(InvocationStatus.RUNNING)
        for invocation_id in ids:
            result = results[invocation_id]
            started = None
            if (
                running is not None
                and result.applied
                and self._cas_status_and_history(
                    invocation_id, start_rule, running, claim_history(invocation_id, running)
                ).applied
            ):
                started = running
            claims[invocation_id] = Claim(result, record, started)

    def _claim_record(self, runner_id: str) -> InvocationStatusRecord:
        """The PENDING record of a claim made now by ``runner_id``."""
        return InvocationStatusRecord(InvocationStatus.PENDING, runner_id, self.app.clock.now())

    def _start_record(self, claim: InvocationStatusRecord) -> InvocationStatusRecord:
        """The RUNNING record of a start made now, right after ``claim`` (never before it)."""
        now = self.app.clock.now()
        if now <= claim.timestamp:
            now = claim.timestamp + _START_DELAY
        return InvocationStatusRecord(InvocationStatus.RUNNING, claim.runner_id, now)

    def _finalize_and_claim(
        self, move: FinalMove, request: ClaimRequest
    ) -> tuple[CasResult, dict[InvocationId, Claim]]:
        """:meth:`_finalize`, then, when it applied, a round (:meth:`_claim_round`) for the
        slot the finished invocation frees. ``request.timeout`` is how long the round may wait
        for work when nothing is due: 0 unless :attr:`waits_with_final_step` (see
        :meth:`set_result_and_claim_next`)."""
        result = self._finalize(move)
        return result, self._claim_round(request) if result.applied else {}

    def _finalize(self, move: FinalMove) -> CasResult:
        """A final move: status and history, then the result or exception, then the wake-up
        of waiters (which must find the result stored)."""
        invocation_id = move.invocation_id
        result = self._cas_status_and_history(invocation_id, move.rule, move.record, move.history)
        if result.applied:
            backend = self.app.state_backend
            if move.serialized_result is not None:
                backend._set_result(invocation_id, move.serialized_result)
            if move.serialized_exception is not None:
                backend._set_exception(invocation_id, move.serialized_exception)
            self._notify_final([invocation_id])
        return result

    def _register_batch(
        self,
        entries: Sequence[OrchestratorEntry],
        record: InvocationStatusRecord,
        dto_pairs: Sequence[tuple[InvocationDTO, CallDTO]],
        histories: Sequence[InvocationHistory],
        messages: Sequence[BrokerMessage],
    ) -> dict[InvocationId, InvocationId]:
        """Store the invocations, register them, record their history and queue them, in that
        order (an invocation is stored before any runner can claim it). Returns the entries
        that reuse an equivalent REGISTERED invocation (see :meth:`_register_invocations`);
        those get no history and no message."""
        self.app.state_backend._upsert_invocations(dto_pairs)
        reused = self._register_invocations(entries, record)
        kept = [h for h in histories if h.invocation_id not in reused]
        if kept:
            self.app.state_backend._add_histories(kept)
        queued = [m for m in messages if m.invocation_id not in reused]
        if queued:
            self.app.broker._route(queued)
        return reused

    # ------------------------------------------------------------------ waiting

    def wait_for_final(
        self, invocation_ids: Sequence[InvocationId], timeout: float
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Block until every one of the invocations is final (result stored), or ``timeout``.

        Returns the final records found by then (all of them, or those final when the time
        ran out: callers loop on what is left). A waiter on many invocations wakes once, not
        once per invocation, and looks at the oldest not yet final first
        (:class:`PendingFinals`). Backends with a
        notification primitive override this; the default polls with adaptive backoff.
        """
        backoff = AdaptiveBackoff(initial=0.0005, maximum=self.conf.wait_poll_max_seconds)
        deadline = time.monotonic() + timeout
        pending = PendingFinals(invocation_ids)
        while True:
            if pending.check(self.get_final_records):
                backoff.reset()
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return pending.found
            backoff.sleep(remaining)

    def _cached_finals(
        self, invocation_ids: Sequence[InvocationId]
    ) -> tuple[dict[InvocationId, InvocationStatusRecord], list[InvocationId]]:
        """The final records known here without a read, and the ids still to read."""
        finals: dict[InvocationId, InvocationStatusRecord] = {}
        unknown: list[InvocationId] = []
        for inv_id in invocation_ids:
            cached = self._final_cache.get(inv_id)
            if cached is None:
                unknown.append(inv_id)
            else:
                finals[inv_id] = cached
        return finals, unknown

    def get_final_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """The final records among ``invocation_ids`` (final ones are cached for good)."""
        finals, unknown = self._cached_finals(invocation_ids)
        if unknown:
            for inv_id, rec in self._get_status_records(unknown).items():
                if rec.status in FINAL_STATUSES:
                    self._final_cache.set(inv_id, rec)
                    finals[inv_id] = rec
        return finals

    # ------------------------------------------------------------------ registration

    def route_calls(self, calls: Sequence[Call[Any, Any]]) -> list[DistributedInvocation[Any, Any]]:
        """Register calls as new invocations and queue them: one batch per backend. Under
        registration concurrency control, a call equivalent to a still REGISTERED invocation
        returns that invocation instead."""
        from pynenc.invocation.dist_invocation import DistributedInvocation

        if self.conf.cycle_control:
            self._check_cycles(calls)
        invocations: list[DistributedInvocation[Any, Any]] = [
            DistributedInvocation.new(call) for call in calls
        ]
        return self.register_and_route(invocations)

    def _check_cycles(self, calls: Sequence[Call[Any, Any]]) -> None:
        """Refuse a call made inside a running invocation that repeats the call of one of its
        ancestors: each would wait on the next forever."""
        from pynenc.invocation import context

        parent = context.current_invocation.get()
        if parent is None:
            return
        chain = self._ancestor_calls(parent)
        ancestors = {call_id: index for index, (_, call_id) in enumerate(chain)}
        for call in calls:
            index = ancestors.get(call.call_id.key)
            if index is not None:
                path = [
                    f"{task}({inv_id[:7]})" for inv_id, task in self._describe(chain[: index + 1])
                ]
                raise CycleDetectedError([*reversed(path), call.task.task_id.key])

    def _ancestor_calls(
        self, invocation: DistributedInvocation[Any, Any]
    ) -> list[tuple[InvocationId, str]]:
        """(invocation id, call id) of the invocation and its ancestors, nearest first."""
        chain = [(invocation.invocation_id, invocation.call.call_id.key)]
        parent_id = invocation.parent_invocation_id
        while parent_id is not None and len(chain) < _MAX_ANCESTORS:
            cached = self._ancestry.get(parent_id)
            if cached is None:
                pair = self.app.state_backend._get_invocation(parent_id)
                if pair is None:
                    break
                cached = (pair[1].call_id.key, pair[0].parent_invocation_id)
                self._ancestry.set(parent_id, cached)
            chain.append((parent_id, cached[0]))
            parent_id = cached[1]
        return chain

    @staticmethod
    def _describe(chain: Sequence[tuple[InvocationId, str]]) -> list[tuple[InvocationId, str]]:
        return [(inv_id, call_id.rpartition("#")[0]) for inv_id, call_id in chain]

    def route_call(self, call: Call[Any, Any]) -> DistributedInvocation[Any, Any]:
        return self.route_calls([call])[0]

    def register_and_route(
        self, invocations: Sequence[DistributedInvocation[Any, Any]]
    ) -> list[DistributedInvocation[Any, Any]]:
        """Store, register (REGISTERED + history) and queue new invocations; returns them in
        order, each replaced by the invocation it reuses under registration concurrency."""
        from pynenc.broker.base_broker import BrokerMessage

        if not invocations:
            return []
        app = self.app
        ctx = app.current_runner_context()
        now = app.clock.now()
        entries = {inv.invocation_id: self._entry_for(inv, now) for inv in invocations}
        reused = self._find_registered_equivalents(entries.values())
        fresh = [inv for inv in invocations if inv.invocation_id not in reused]
        if fresh:
            record = InvocationStatusRecord(InvocationStatus.REGISTERED, ctx.runner_id, now)
            app.state_backend.store_runner_context(ctx)
            fresh_entries = [entries[i.invocation_id] for i in fresh]
            raced = self._register_batch(
                fresh_entries,
                record,
                [inv.to_dto_pair() for inv in fresh],
                [
                    InvocationHistory(
                        inv.invocation_id, record, ctx.runner_id, inv.parent_invocation_id, now
                    )
                    for inv in fresh
                ],
                [BrokerMessage(e.invocation_id, e.queue, e.priority) for e in fresh_entries],
            )
            reused.update(raced)
            registered = [inv for inv in fresh if inv.invocation_id not in raced]
            if registered:
                record_workflow_membership(app, registered)
                app.trigger.report_registered(registered)
        if not reused:
            return list(invocations)
        return self._with_reused(invocations, reused)

    def _find_registered_equivalents(
        self, entries: Iterable[OrchestratorEntry]
    ) -> dict[InvocationId, InvocationId]:
        """For entries under registration concurrency, the REGISTERED invocation each reuses."""
        found: dict[InvocationId, InvocationId] = {}
        for entry in entries:
            if entry.registration_key is None:
                continue
            page = self._query_invocations(
                InvocationQuery(
                    statuses=frozenset({InvocationStatus.REGISTERED}),
                    registration_key=entry.registration_key,
                    limit=1,
                )
            )
            if page.invocation_ids:
                found[entry.invocation_id] = page.invocation_ids[0]
        return found

    def _with_reused(
        self,
        invocations: Sequence[DistributedInvocation[Any, Any]],
        reused: dict[InvocationId, InvocationId],
    ) -> list[DistributedInvocation[Any, Any]]:
        result: list[DistributedInvocation[Any, Any]] = []
        for invocation in invocations:
            existing_id = reused.get(invocation.invocation_id)
            if existing_id is None or existing_id == invocation.invocation_id:
                result.append(invocation)
                continue
            existing = self.app.state_backend.get_invocation(existing_id)
            conf = invocation.call.task.conf
            if conf.on_diff_non_key_args_raise and existing.call.call_id != invocation.call.call_id:
                raise ConcurrencyControlError(
                    f"Task '{invocation.task.task_id}' already has invocation "
                    f"'{existing_id}' registered with other arguments than this call "
                    f"({conf.registration_concurrency} registration concurrency, "
                    "on_diff_non_key_args_raise=True). Wait for it to run, or call with the "
                    "same arguments."
                )
            result.append(existing)
        return result

    def _entry_for(
        self, invocation: DistributedInvocation[Any, Any], now: datetime
    ) -> OrchestratorEntry:
        call = invocation.call
        task_conf = call.task.conf
        return OrchestratorEntry(
            invocation_id=invocation.invocation_id,
            task_id=call.task.task_id.key,
            call_id=call.call_id.key,
            registered_at=now,
            queue=task_conf.queue,
            priority=task_conf.priority,
            registration_key=call.registration_key,
            running_key=call.running_key,
        )

    # ------------------------------------------------------------------ status changes

    def set_invocation_status(
        self,
        invocation_id: InvocationId,
        status: InvocationStatus,
        runner_ctx: RunnerContext | None = None,
    ) -> InvocationStatusRecord:
        """Move an invocation to ``status`` as one compare-and-set step, and record history.

        Raises :class:`InvalidStatusTransitionError` for a move the table does not list,
        :class:`InvocationOwnershipError` when another runner owns the invocation,
        :class:`InvocationStatusNotFoundError` when the orchestrator does not know it, and
        :class:`ConcurrencyControlError` when running concurrency control holds it back.
        """
        ctx = runner_ctx or self.app.current_runner_context()
        record = InvocationStatusRecord(status, ctx.runner_id, self.app.clock.now())
        result = self._change_status(invocation_id, record, ctx)
        if not result.applied:
            self._raise_refusal(invocation_id, result, status, ctx)
        return record

    def _raise_refusal(
        self,
        invocation_id: InvocationId,
        result: CasResult,
        status: InvocationStatus,
        ctx: RunnerContext,
    ) -> NoReturn:
        """The specific error for a compare-and-set that did not apply."""
        if result.previous is None:
            raise InvocationStatusNotFoundError(invocation_id)
        if result.conflict is not None:
            raise ConcurrencyControlError(
                f"Invocation '{invocation_id}' cannot become {status}: invocation "
                f"'{result.conflict}' with the same running concurrency key is active."
            )
        check_transition(invocation_id, result.previous, status, ctx.runner_id)
        raise InvocationStatusError(  # pragma: no cover - the backend broke the contract
            invocation_id,
            f"Backend refused an allowed move {result.previous.status} -> {status}",
        )

    def _change_status(
        self, invocation_id: InvocationId, record: InvocationStatusRecord, ctx: RunnerContext
    ) -> CasResult:
        """The compare-and-set with its history entry, then (when applied) the cache."""
        self.app.state_backend.store_runner_context(ctx)
        result = self._cas_status_and_history(
            invocation_id,
            transition_rule(record.status),
            record,
            _history(invocation_id, record, ctx),
        )
        if result.applied:
            self._after_change(invocation_id, record)
        return result

    def _after_change(
        self, invocation_id: InvocationId, record: InvocationStatusRecord, cache: bool = True
    ) -> None:
        if cache:
            self._status_cache.set(invocation_id, record)
        self.app.trigger.report_status(invocation_id, record.status)

    def try_set_invocation_status(
        self,
        invocation_id: InvocationId,
        status: InvocationStatus,
        runner_ctx: RunnerContext | None = None,
    ) -> InvocationStatusRecord | None:
        """Like :meth:`set_invocation_status`, but return None instead of raising on refusal."""
        try:
            return self.set_invocation_status(invocation_id, status, runner_ctx)
        except InvocationStatusError as exc:
            self.app.logger.debug("status change refused: %s", exc)
            return None

    def claim_invocations(
        self, invocation_ids: Iterable[InvocationId], runner_ctx: RunnerContext, start: bool = False
    ) -> list[InvocationId]:
        """Move each delivered invocation to PENDING owned by ``runner_ctx`` (and on to
        RUNNING in the same step with ``start``, for a runner that executes it at once); skip
        the ones another runner won or that are no longer runnable (stale or duplicate
        messages), and hold back the ones running concurrency control refuses."""
        ids = list(dict.fromkeys(invocation_ids))
        if not ids:
            return []
        self.app.state_backend.store_runner_context(runner_ctx)
        claims: dict[InvocationId, Claim] = {}
        with self._claim_step():
            self._claim_into(claims, ids, ClaimRequest(runner_ctx.runner_id, len(ids), start))
        return self._claimed_ids(claims, runner_ctx, start)

    def _hold_back(
        self, invocation_id: InvocationId, status: InvocationStatus, runner_ctx: RunnerContext
    ) -> None:
        """An equivalent invocation is active: queue this one again after a short delay
        (CONCURRENCY_CONTROLLED then REROUTED), or end it (CONCURRENCY_CONTROLLED_FINAL) when
        its task says ``reroute_on_concurrency_control=False``. A RETRY keeps its status."""
        from pynenc.broker.base_broker import BrokerMessage

        invocations, errors = self.app.state_backend.load_invocations([invocation_id])
        if errors:
            self.fail_unrunnable(invocation_id, errors[invocation_id], runner_ctx)
            return
        conf = invocations[0].call.task.conf
        S = InvocationStatus
        if status != S.RETRY and not conf.reroute_on_concurrency_control:
            if self.try_set_invocation_status(
                invocation_id, S.CONCURRENCY_CONTROLLED_FINAL, runner_ctx
            ):
                self._notify_final([invocation_id])
            return
        if status != S.RETRY and not (
            self.try_set_invocation_status(invocation_id, S.CONCURRENCY_CONTROLLED, runner_ctx)
            and self.try_set_invocation_status(invocation_id, S.REROUTED, runner_ctx)
        ):
            return
        not_before = self.app.clock.time() + self.conf.concurrency_control_retry_seconds
        self.app.broker.route_invocations(
            [BrokerMessage(invocation_id, conf.queue, conf.priority, not_before)]
        )

    def get_invocations_to_run(
        self,
        max_num_invocations: int,
        runner_ctx: RunnerContext,
        timeout: float | None = None,
        queues: Sequence[str] | None = None,
        start: bool = False,
    ) -> list[DistributedInvocation[Any, Any]]:
        """Wait for queued work (up to ``timeout``), claim it and return it ready to run.

        With blocking control, invocations that others wait on are claimed first, ahead of
        the queue order (their queued message is skipped later as stale). With ``start`` (a
        runner that executes what it claims at once) every invocation returned is already
        RUNNING, owned by ``runner_ctx``: the caller must not move it to RUNNING again."""
        if max_num_invocations <= 0:
            return []
        self.app.state_backend.store_runner_context(runner_ctx)
        request = ClaimRequest(
            runner_id=runner_ctx.runner_id,
            max_count=max_num_invocations,
            start=start,
            queues=None if queues is None else tuple(queues),
            timeout=timeout,
            waited_first=self.conf.blocking_control and queues is None,
        )
        return self._accept_claims(self._claim_round(request), runner_ctx, start)

    def _accept_claims(
        self, claims: dict[InvocationId, Claim], runner_ctx: RunnerContext, start: bool
    ) -> list[DistributedInvocation[Any, Any]]:
        """What a round's claims mean for the runner: the invocations it now owns (RUNNING
        when ``start``), loaded; the ones running concurrency refused are held back, the ones
        that cannot be loaded here are failed."""
        claimed = self._claimed_ids(claims, runner_ctx, start)
        if not claimed:
            return []
        invocations, errors = self.app.state_backend.load_invocations(claimed)
        for invocation_id, error in errors.items():
            self.fail_unrunnable(invocation_id, error, runner_ctx, running=start)
        return invocations

    def _claimed_ids(
        self, claims: dict[InvocationId, Claim], runner_ctx: RunnerContext, start: bool
    ) -> list[InvocationId]:
        """The invocations the claims gave the runner (started too, with ``start``: one
        claimed but not started stays PENDING), after the hooks of each change; the ones
        running concurrency refused are held back."""
        claimed: list[InvocationId] = []
        for invocation_id, claim in claims.items():
            result = claim.result
            if result.applied:
                self._after_change(invocation_id, claim.record, cache=claim.started is None)
                if claim.started is not None:
                    self._after_change(invocation_id, claim.started)
                elif start:
                    continue
                claimed.append(invocation_id)
            elif result.conflict is not None and result.previous is not None:
                self._hold_back(invocation_id, result.previous.status, runner_ctx)
        return claimed

    def fail_unrunnable(
        self,
        invocation_id: InvocationId,
        error: Exception,
        runner_ctx: RunnerContext,
        running: bool = False,
    ) -> None:
        """Fail a claimed invocation this process cannot run (its task does not import here):
        the caller gets the error as the invocation's exception, and the runner goes on
        serving the tasks it can. ``running``: the claim already moved it to RUNNING."""
        self.app.logger.error("cannot run invocation %s: %s", invocation_id, error)
        try:
            if not running:
                self.set_invocation_status(invocation_id, InvocationStatus.RUNNING, runner_ctx)
            self.set_invocation_exception(invocation_id, error, runner_ctx)
        except InvocationStatusError as exc:
            self.app.logger.warning("could not fail invocation %s: %s", invocation_id, exc)

    def set_invocation_run(
        self, invocation_id: InvocationId, runner_ctx: RunnerContext
    ) -> InvocationStatusRecord:
        return self.set_invocation_status(invocation_id, InvocationStatus.RUNNING, runner_ctx)

    def set_invocation_result(
        self, invocation_id: InvocationId, result: Any, runner_ctx: RunnerContext
    ) -> None:
        """Serialize, move to SUCCESS, store the result, wake waiters. In that order: a result
        that cannot be serialized fails before the status changes, and a late write by a runner
        that lost ownership is refused before anything is stored."""
        self.set_result_and_claim_next(invocation_id, result, runner_ctx, 0)

    def set_result_and_claim_next(
        self,
        invocation_id: InvocationId,
        result: Any,
        runner_ctx: RunnerContext,
        max_next: int,
        wait: float = 0.0,
    ) -> list[DistributedInvocation[Any, Any]]:
        """:meth:`set_invocation_result`, then claim up to ``max_next`` due invocations for
        the same runner and start them (RUNNING), in the same step where the backend can: a
        runner thread whose invocation finished goes straight on to the next one. Returns
        those invocations (none when nothing is due).

        With ``wait`` (seconds), a caller that would wait for work next anyway lets a backend
        that can do so in the same round trip as the final step
        (:attr:`waits_with_final_step`) wait up to that long when nothing is due: it returns
        when work comes or the time is up. Others do not wait. The final step is recorded,
        and its waiters woken, before any wait. Not while triggers watch task outcomes: they
        are reported after the step, without delay."""
        serialized = self.app.serializer.serialize(result)
        request = None
        if max_next > 0:
            if wait > 0 and (
                not self.waits_with_final_step or self.app.trigger.source_index().watched_tasks
            ):
                wait = 0.0
            key = (runner_ctx.runner_id, max_next, wait)
            request = self._next_requests.get(key)
            if request is None:
                request = ClaimRequest(
                    runner_id=runner_ctx.runner_id,
                    max_count=max_next,
                    start=True,
                    timeout=wait,
                    waited_first=self.conf.blocking_control,
                )
                self._next_requests.set(key, request)
        claims = self._finish(
            invocation_id,
            InvocationStatus.SUCCESS,
            runner_ctx,
            serialized_result=serialized,
            request=request,
        )
        self.app.trigger.report_result(invocation_id, result)
        return self._accept_claims(claims, runner_ctx, start=True) if claims else []

    def set_invocation_exception(
        self, invocation_id: InvocationId, exception: BaseException, runner_ctx: RunnerContext
    ) -> None:
        serialized = self.app.state_backend.serialize_exception(exception)
        self._finish(
            invocation_id, InvocationStatus.FAILED, runner_ctx, serialized_exception=serialized
        )
        self.app.trigger.report_exception(invocation_id, exception)

    def finalize_without_result(
        self, invocation_id: InvocationId, status: InvocationStatus, runner_ctx: RunnerContext
    ) -> None:
        """Move to a final status that carries no result (CONCURRENCY_CONTROLLED_FINAL)."""
        self._finish(invocation_id, status, runner_ctx)

    def _finish(
        self,
        invocation_id: InvocationId,
        status: InvocationStatus,
        runner_ctx: RunnerContext,
        serialized_result: str | None = None,
        serialized_exception: str | None = None,
        request: ClaimRequest | None = None,
    ) -> dict[InvocationId, Claim]:
        """A final move with its history, result or exception, and the waiters' wake-up; with
        a ``request``, the claim round that follows it."""
        record = InvocationStatusRecord(status, runner_ctx.runner_id, self.app.clock.now())
        self.app.state_backend.store_runner_context(runner_ctx)
        move = FinalMove(
            invocation_id,
            transition_rule(status),
            record,
            _history(invocation_id, record, runner_ctx),
            serialized_result,
            serialized_exception,
        )
        claims: dict[InvocationId, Claim] = {}
        if request is None:
            result = self._finalize(move)
        else:
            result, claims = self._finalize_and_claim(move, request)
        if not result.applied:
            self._raise_refusal(invocation_id, result, status, runner_ctx)
        self._after_change(invocation_id, record)
        return claims

    def set_invocation_retry(
        self,
        invocation: DistributedInvocation[Any, Any],
        exception: BaseException,
        runner_ctx: RunnerContext,
    ) -> float:
        """RETRY, then queue again once the backoff delay has passed; returns the delay."""
        from pynenc.broker.base_broker import BrokerMessage

        invocation_id = invocation.invocation_id
        self.set_invocation_status(invocation_id, InvocationStatus.RETRY, runner_ctx)
        attempt = self._increment_retries(invocation_id)
        conf = invocation.call.task.conf
        delay = conf.retry_delay_seconds(attempt)
        not_before = self.app.clock.time() + delay if delay > 0 else None
        self.app.broker.route_invocations(
            [BrokerMessage(invocation_id, conf.queue, conf.priority, not_before)]
        )
        self.app.logger.debug(
            "invocation %s retry %d in %.3fs: %r", invocation_id, attempt, delay, exception
        )
        return delay

    def reroute_invocations(
        self,
        invocations: Sequence[DistributedInvocation[Any, Any]],
        runner_ctx: RunnerContext | None = None,
    ) -> list[InvocationId]:
        """Move each invocation to REROUTED and queue it again; returns the ones rerouted."""
        from pynenc.broker.base_broker import BrokerMessage

        messages: list[BrokerMessage] = []
        for invocation in invocations:
            if self.try_set_invocation_status(
                invocation.invocation_id, InvocationStatus.REROUTED, runner_ctx
            ):
                conf = invocation.call.task.conf
                messages.append(BrokerMessage(invocation.invocation_id, conf.queue, conf.priority))
        self.app.broker.route_invocations(messages)
        return [m.invocation_id for m in messages]

    def kill_and_reroute(self, invocation_id: InvocationId, runner_ctx: RunnerContext) -> bool:
        """KILLED then REROUTED: hand an in-flight invocation back to the queue.

        Returns False (and does nothing) when it already reached a final status or is no longer
        owned by ``runner_ctx``.
        """
        if (
            self.try_set_invocation_status(invocation_id, InvocationStatus.KILLED, runner_ctx)
            is None
        ):
            return False
        invocation = self.app.state_backend.get_invocation(invocation_id)
        return bool(self.reroute_invocations([invocation], runner_ctx))

    # ------------------------------------------------------------------ reading

    def get_invocation_status_record(
        self, invocation_id: InvocationId, use_cache: bool = True
    ) -> InvocationStatusRecord:
        if use_cache:
            cached = self._final_cache.get(invocation_id) or self._status_cache.get(invocation_id)
            if cached is not None:
                return cached
        records = self._get_status_records([invocation_id])
        record = records.get(invocation_id)
        if record is None:
            raise InvocationStatusNotFoundError(invocation_id)
        if record.status in FINAL_STATUSES:
            self._final_cache.set(invocation_id, record)
        else:
            self._status_cache.set(invocation_id, record)
        return record

    def get_invocation_status(
        self, invocation_id: InvocationId, use_cache: bool = True
    ) -> InvocationStatus:
        return self.get_invocation_status_record(invocation_id, use_cache).status

    def get_status_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        return self._get_status_records(invocation_ids)

    def get_invocation_retries(self, invocation_id: InvocationId) -> int:
        return self._get_retries(invocation_id)

    def query_invocations(self, query: InvocationQuery) -> InvocationPage:
        """A page of invocation ids filtered by task, status, time, owner or call."""
        if query.limit <= 0:
            raise ValueError("query limit must be positive")
        return self._query_invocations(query)

    def iter_invocations(self, query: InvocationQuery) -> Iterable[InvocationId]:
        """Every invocation matching ``query``, following the pages."""
        page = self._query_invocations(query)
        while True:
            yield from page.invocation_ids
            if page.next_cursor is None:
                return
            page = self._query_invocations(_replace_cursor(query, page.next_cursor))

    def count_invocations(self, task_id: str | None = None) -> dict[InvocationStatus, int]:
        """Status counts, for one task or for the whole app."""
        return self._count_by_status(task_id)

    # ------------------------------------------------------------------ runners

    def register_runner_heartbeats(
        self, runner_ids: Sequence[str], can_run_atomic_service: bool = False
    ) -> None:
        if runner_ids:
            self._register_heartbeats(runner_ids, can_run_atomic_service, self.app.clock.now())

    def get_active_runners(self, timeout_minutes: float | None = None) -> list[ActiveRunnerInfo]:
        """Runners that heartbeated within ``runner_considered_dead_after_minutes``."""
        minutes = (
            self.app.conf.runner_considered_dead_after_minutes
            if timeout_minutes is None
            else timeout_minutes
        )
        cutoff = self.app.clock.now() - timedelta(minutes=minutes)
        return sorted(
            (r for r in self._get_runner_infos() if r.last_heartbeat >= cutoff),
            key=lambda r: (r.creation_time, r.runner_id),
        )

    def get_runner_infos(self) -> list[ActiveRunnerInfo]:
        return self._get_runner_infos()

    def unregister_runners(self, runner_ids: Sequence[str]) -> None:
        if runner_ids:
            self._remove_runners(runner_ids)

    # ------------------------------------------------------------------ atomic services

    def record_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        self._store_atomic_service_execution(execution)

    def finalize_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        """Store the final state of an execution, then apply the retention settings."""
        self._store_atomic_service_execution(execution)
        retention = self.app.conf.atomic_service_execution_retention_minutes
        cutoff = self.app.clock.now() - timedelta(minutes=retention) if retention > 0 else None
        self._trim_atomic_service_executions(
            cutoff, self.app.conf.atomic_service_execution_max_records
        )

    def get_atomic_service_executions(self, limit: int = 100) -> list[AtomicServiceExecution]:
        return self._get_atomic_service_executions(limit)

    # ------------------------------------------------------------------ blocking control

    def waiting_for_results(
        self, waiter_id: InvocationId, waited_ids: Sequence[InvocationId]
    ) -> None:
        if self.conf.blocking_control and waited_ids:
            self._add_waiting(waiter_id, waited_ids)

    def release_waiter(self, waiter_id: InvocationId) -> None:
        if self.conf.blocking_control:
            self._remove_waiting(waiter_id)

    def get_blocking_invocations(self, limit: int) -> list[InvocationId]:
        return self._get_waited_ids(limit)

    def _runnable_waited_ids(self, limit: int) -> list[InvocationId]:
        """Invocations others wait on that a runner may claim now, most waited-on first."""
        waited = self._get_waited_ids(limit)
        if not waited:
            return []
        records = self._get_status_records(waited)
        runnable = {InvocationStatus.REGISTERED, InvocationStatus.REROUTED}
        return [i for i in waited if i in records and records[i].status in runnable]

    # ------------------------------------------------------------------ purge

    def purge_final_invocations(self, older_than: datetime | None = None) -> int:
        """Remove final invocations whose last change is older than ``older_than`` (default:
        ``auto_final_invocation_purge_hours`` ago) from the orchestrator only."""
        cutoff = older_than or (
            self.app.clock.now() - timedelta(hours=self.conf.auto_final_invocation_purge_hours)
        )
        query = InvocationQuery(statuses=FINAL_STATUSES, status_changed_before=cutoff, limit=500)
        removed = 0
        while True:
            page = self._query_invocations(query)
            if not page.invocation_ids:
                return removed
            self._delete_invocations(page.invocation_ids)
            removed += len(page.invocation_ids)


def _replace_cursor(query: InvocationQuery, cursor: str) -> InvocationQuery:
    return replace(query, cursor=cursor)
