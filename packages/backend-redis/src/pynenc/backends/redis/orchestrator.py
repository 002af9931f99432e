"""Redis orchestrator: invocation statuses, their indexes and scheduling records.

Every status change is one Lua script (``lua/transition.lua``) that reads the current record,
validates the move against the :class:`~pynenc.invocation.status.TransitionRule` passed in as
data (derived from the status table, nothing else) and writes, so racing runners in any
processes never both win. When the other components of the app live on the same server, the
composite steps do their writes in the same script:

======================================  =====================================================
step                                    one script does
======================================  =====================================================
registration (a call, or a batch of     reuse by registration key, the call (state backend),
``parallelize``/``route_calls``)        the status and indexes, the first history entry, the
                                        broker message and the runners' wake-up
a runner's round (``claim_round``)      the runnable waited-on invocations, then the best due
                                        messages: each claimed (with the running-key check)
                                        and, for a runner that starts what it claims, started,
                                        with both history entries; the messages deleted; the
                                        stored calls returned
status change                           the compare-and-set and its history entry
final move                              the compare-and-set, history, result or exception,
                                        and the pub/sub wake-up of result waiters
final move and next claim               the final move, then a round for the slot it frees
(``finish_claim``)
======================================  =====================================================

Round trips per task (a no-op call submitted by a client and run by a ThreadRunner with
blocking control on; counted by ``tests/test_round_trips.py``):

- client: 1 to register a lone call (a ``parallelize`` batch is 1 in all); calls in a burst
  are queued and registered in the background, one round trip per batch
  (:mod:`pynenc.backends.redis.outbox`); awaiting a result it was notified of costs nothing
  (the notification carries small results, and a call registered while the process listens
  needs no first read).
- runner: 1 for the final move, which claims and starts the next due invocation; a runner
  that found nothing due adds 1: its blocking pop on the wake-up lists and the round that
  claims the work are sent together, so the server runs the round as the wait ends.

Measured: 1.03 per task for the runner draining a backlog of 200 calls registered in one batch
(client 0.01), 2 per task for one call at a time (client 1, runner 1).

Result waiters are woken through pub/sub (:mod:`pynenc.backends.redis.listener`) and read the
stored state again after any reconnection.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.backends.redis.codec import (
    dumps,
    encode_history,
    encode_invocation,
    from_micros,
    history_parts,
    record_from,
    to_micros,
)
from pynenc.backends.redis.conf import ConfigOrchestratorRedis
from pynenc.backends.redis.connection import new_token, pack
from pynenc.backends.redis.exceptions import RedisValueTooLargeError
from pynenc.backends.redis.listener import RECENT_SECONDS, finals_for
from pynenc.backends.redis.outbox import register_args
from pynenc.backends.redis.store import RedisStore
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    InvocationStatus,
    InvocationStatusRecord,
    TransitionRule,
    transition_rule,
)
from pynenc.orchestrator.atomic_service import (
    ActiveRunnerInfo,
    AtomicServiceExecution,
    AtomicServiceExecutionStatus,
)
from pynenc.orchestrator.base_orchestrator import (
    BaseOrchestrator,
    CasResult,
    Claim,
    ClaimRequest,
    FinalMove,
    InvocationPage,
    InvocationQuery,
    OrchestratorEntry,
)
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.util.cache import LRUCache
from pynenc.util.waiting import AdaptiveBackoff

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.broker.base_broker import BrokerMessage
    from pynenc.call import Call
    from pynenc.invocation.dist_invocation import DistributedInvocation, InvocationDTO
    from pynenc.models.call_dto import CallDTO

S = InvocationStatus


def status_set(statuses: frozenset[InvocationStatus] | set[InvocationStatus]) -> str:
    """A status set as the scripts read it: ``,A,B,``."""
    return "," + ",".join(sorted(s.value for s in statuses)) + ","


RUNNABLE_WAITED = status_set({S.REGISTERED, S.REROUTED})
"""Waited-on invocations a runner may claim ahead of the queue (as the base class decides)."""

MAX_PRIORITY = 2**19 - 1
"""Priorities are clamped to +-MAX_PRIORITY (the broker's score keeps 33 bits for order)."""

INLINE_VALUE_BYTES = 4096
"""Results and exceptions up to this size travel with the final notification, so a waiter
that was notified reads nothing more."""

QUERY_BUDGET = 1000
"""Candidates one query script examines at most (a page may come back short, with a cursor)."""

_CHUNK = 500


@functools.cache
def rule_args(rule: TransitionRule) -> tuple[str, ...]:
    """A transition rule as the scripts read it (the rules are few: computed once each)."""
    return (
        rule.target.value,
        status_set(rule.from_any_runner),
        status_set(rule.from_owner_only),
        "1" if rule.exclusive else "0",
    )


@functools.lru_cache(maxsize=256)
def _rule_and_runner(rule: TransitionRule, runner_id: str) -> str:
    """The first fields of a transition header: the rule and the runner making the move."""
    return pack(*rule_args(rule), runner_id)


def clamp_priority(priority: int) -> str:
    return str(max(-MAX_PRIORITY, min(MAX_PRIORITY, priority)))


def _cas_result(raw: Sequence[Any], i: int) -> tuple[CasResult, str]:
    """The 6 values a transition returns from ``raw[i]`` on: the result and the stored call."""
    applied, status, runner_id, micros, conflict, call = raw[i : i + 6]
    previous = record_from(status, runner_id, micros) if status else None
    return CasResult(bool(applied), previous, InvocationId(conflict) if conflict else None), call


@functools.lru_cache(maxsize=64)
def round_args(request: ClaimRequest, retention: float) -> _RoundArgs:
    """The arguments of a round for ``request`` with the state ``retention`` (seconds; a runner
    asks the same few requests again and again)."""
    return _RoundArgs(request, retention)


class _RoundArgs:
    """The arguments of a claim round (``lua/claim_round.lua``), built once per request."""

    def __init__(self, request: ClaimRequest, retention: float) -> None:
        runner_id = request.runner_id
        self.queues = list(request.queues or ())
        self._static = pack(
            request.max_count,
            request.max_count if request.waited_first else 0,
            RUNNABLE_WAITED,
            *rule_args(transition_rule(S.PENDING)),
            S.RUNNING.value if request.start else "",
            runner_id,
        )
        self._parts = pack(
            *history_parts(S.PENDING.value, runner_id, runner_id, None),
            *history_parts(S.RUNNING.value, runner_id, runner_id, None),
            repr(retention),
        )

    def header(
        self,
        now: float,
        record: InvocationStatusRecord,
        token: str,
        repeat: bool,
        guard: str = "",
    ) -> str:
        """The header of one attempt, claiming with ``record`` (its time and runner); a round
        with a ``guard`` claims nothing when the final step before it left that guard."""
        return pack(
            repr(now),
            self._static,
            to_micros(record.timestamp),
            token,
            "1" if repeat else "0",
            self._parts,
            guard,
        )


class RedisOrchestrator(BaseOrchestrator):
    """Statuses, runners and scheduling records on a Redis server, shared by every process
    configured with the same server and app id."""

    config_cls: ClassVar[type[ConfigOrchestratorRedis]] = ConfigOrchestratorRedis
    conf: ConfigOrchestratorRedis
    cross_process: ClassVar[bool] = True
    waits_with_final_step: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)
        self._channel = self.store.key("o", "final")
        self._finals = finals_for(self.store.connection, self.store.prefix)
        self._reads = threading.local()
        self._colocation: dict[str, tuple[Any, Any]] = {}
        self._fresh: LRUCache[InvocationId, tuple[int, float, int]] = LRUCache(
            self.conf.status_cache_size
        )
        """Invocations this process registered while subscribed: (listener epoch, when,
        notifications received by then)."""

    def open_connections(self) -> None:
        """Open a pooled connection to the server (every component of the app shares it)."""
        self.store.run(lambda client: client.ping())

    # ------------------------------------------------------------------ co-location

    def _colocated(self, kind: str) -> Any:
        """The app's ``kind`` component when it is a Redis component on this server (its keys
        can be written in this orchestrator's scripts), else None."""
        component = getattr(self.app, kind)
        known = self._colocation.get(kind)
        if known is not None and known[0] is component:
            return known[1]
        store = getattr(component, "store", None)
        found = component if self.store.same_server(store) else None
        self._colocation[kind] = (component, found)
        return found

    # ------------------------------------------------------------------ registration

    def route_calls(self, calls: Sequence[Call[Any, Any]]) -> list[DistributedInvocation[Any, Any]]:
        """As the base class; the new invocations' ids are fresh, so a registration that
        cannot reuse another invocation by its key may be queued (:mod:`.outbox`)."""
        self._reads.fresh_ids = True
        try:
            return super().route_calls(calls)
        finally:
            self._reads.fresh_ids = False

    def _register_invocations(
        self, entries: Sequence[OrchestratorEntry], record: InvocationStatusRecord
    ) -> dict[InvocationId, InvocationId]:
        return self._register(entries, record, {}, {}, {})

    def _register_batch(
        self,
        entries: Sequence[OrchestratorEntry],
        record: InvocationStatusRecord,
        dto_pairs: Sequence[tuple[InvocationDTO, CallDTO]],
        histories: Sequence[InvocationHistory],
        messages: Sequence[BrokerMessage],
    ) -> dict[InvocationId, InvocationId]:
        if (
            self._colocated("state_backend") is None
            or self._colocated("broker") is None
            or any(m.not_before is not None for m in messages)
        ):
            return super()._register_batch(entries, record, dto_pairs, histories, messages)
        calls: dict[str, str] = {}
        parents: dict[str, str] = {}
        for invocation, call in dto_pairs:
            encoded = encode_invocation(invocation, call)
            self.store.check_size(encoded, f"arguments of invocation {invocation.invocation_id}")
            calls[invocation.invocation_id] = encoded
            parents[invocation.invocation_id] = invocation.parent_invocation_id or ""
        history = {h.invocation_id: h for h in histories}
        queued = {m.invocation_id: m for m in messages}
        return self._register(entries, record, calls, history, queued, parents)

    def _register(
        self,
        entries: Sequence[OrchestratorEntry],
        record: InvocationStatusRecord,
        calls: dict[str, str],
        histories: dict[str, InvocationHistory],
        messages: dict[InvocationId, BrokerMessage],
        parents: dict[str, str] | None = None,
    ) -> dict[InvocationId, InvocationId]:
        if not entries:
            return {}
        outbox = self.store.outbox
        queue = (
            self.conf.redis_register_bursts_in_background
            and len(messages) == len(entries)
            and getattr(self._reads, "fresh_ids", False)
            and all(entry.registration_key is None for entry in entries)
            and outbox.in_burst()
        )
        status_time = to_micros(record.timestamp)
        runner_id, retention = record.runner_id or "", repr(self._state_retention())
        items: list[str] = []
        for entry in entries:
            inv_id = entry.invocation_id
            history = histories.get(inv_id)
            message = messages.get(inv_id)
            items.append(
                pack(
                    inv_id,
                    entry.task_id,
                    entry.call_id,
                    entry.registration_key or "",
                    entry.running_key or "",
                    to_micros(entry.registered_at),
                    calls.get(inv_id, ""),
                    (parents or {}).get(inv_id, ""),
                    to_micros(history.timestamp) if history else "",
                    encode_history(history) if history else "",
                    message.queue if message else "",
                    clamp_priority(message.priority) if message else "0",
                    status_time,
                )
            )
        listener = self.store.connection.listener
        subscribed = listener.is_subscribed(self._channel)
        epoch, notified = listener.epoch, self._finals.notified
        if queue:
            outbox.add(runner_id, retention, items, [entry.invocation_id for entry in entries])
            reused: dict[InvocationId, InvocationId] = {}
        else:
            raw = self.store.script(
                "register", register_args(self.store, runner_id, retention, items)
            )
            outbox.called()
            reused = {InvocationId(raw[i]): InvocationId(raw[i + 1]) for i in range(0, len(raw), 2)}
        if subscribed:
            mark = (epoch, time.monotonic(), notified)
            for entry in entries:
                if entry.invocation_id not in reused:
                    self._fresh.set(entry.invocation_id, mark)
        return reused

    # ------------------------------------------------------------------ status changes

    def _transition(
        self,
        invocation_ids: Sequence[InvocationId],
        rule: TransitionRule,
        record: InvocationStatusRecord,
        *,
        histories: dict[InvocationId, InvocationHistory] | None = None,
        flags: str = "",
        value_kind: str = "",
        value: str = "",
        leases: Sequence[str] = (),
    ) -> list[tuple[CasResult, str]]:
        """Run ``transition.lua``; per invocation the result and (flag d) its stored call."""
        args: list[str] = [
            self.store.prefix,
            self._transition_header(rule, record, flags, value_kind, new_token()),
            value,
            pack(*leases),
        ]
        for inv_id in invocation_ids:
            args.append(self._transition_item(inv_id, histories.get(inv_id) if histories else None))
        raw = self.store.script("transition", args)
        return [_cas_result(raw, i) for i in range(0, len(raw), 6)]

    def _transition_header(
        self,
        rule: TransitionRule,
        record: InvocationStatusRecord,
        flags: str,
        value_kind: str,
        token: str,
    ) -> str:
        """The header argument of a transition (see ``transition`` in ``lua/prelude.lua``)."""
        return pack(
            _rule_and_runner(rule, record.runner_id or ""),
            to_micros(record.timestamp),
            flags,
            value_kind,
            repr(self._state_retention()),
            token,
            INLINE_VALUE_BYTES,
        )

    def _state_retention(self) -> float:
        """Seconds the co-located state backend keeps a final invocation's state (0: until the
        app is purged); the scripts also bound the history time index with it."""
        backend = self._colocated("state_backend")
        return backend.conf.state_retention_hours * 3600 if backend is not None else 0.0

    @staticmethod
    def _transition_item(invocation_id: InvocationId, history: InvocationHistory | None) -> str:
        if history is None:
            return invocation_id
        return pack(invocation_id, to_micros(history.timestamp), encode_history(history))

    def _cas_status(
        self, invocation_id: InvocationId, rule: TransitionRule, record: InvocationStatusRecord
    ) -> CasResult:
        return self._retry_missing(lambda: self._transition([invocation_id], rule, record)[0][0])

    def _cas_status_and_history(
        self,
        invocation_id: InvocationId,
        rule: TransitionRule,
        record: InvocationStatusRecord,
        history: InvocationHistory,
    ) -> CasResult:
        if self._colocated("state_backend") is None:
            return super()._cas_status_and_history(invocation_id, rule, record, history)
        return self._retry_missing(
            lambda: self._transition(
                [invocation_id], rule, record, histories={invocation_id: history}, flags="h"
            )[0][0]
        )

    def _claim_many(
        self,
        invocation_ids: Sequence[InvocationId],
        record: InvocationStatusRecord,
        histories: dict[InvocationId, InvocationHistory],
    ) -> dict[InvocationId, CasResult]:
        backend = self._colocated("state_backend")
        if backend is None:
            return super()._claim_many(invocation_ids, record, histories)
        broker = self._colocated("broker")
        leases = broker.take_leases(invocation_ids) if broker is not None else []
        results = self._transition(
            invocation_ids,
            transition_rule(record.status),
            record,
            histories=histories,
            flags="hd",
            leases=leases,
        )
        claimed: dict[InvocationId, CasResult] = {}
        for inv_id, (result, call) in zip(invocation_ids, results, strict=True):
            claimed[inv_id] = result
            if call:
                backend.prefetch(inv_id, call)
        return claimed

    def _claim_round(self, request: ClaimRequest) -> dict[InvocationId, Claim]:
        """The whole round in one script (``lua/claim_round.lua``) per attempt, blocking on the
        queues' wake-up lists while nothing is due."""
        backend = self._colocated("state_backend")
        broker = self._colocated("broker")
        if backend is None or broker is None:
            return super()._claim_round(request)
        prefix = self.store.prefix
        args = round_args(request, self._state_retention())
        timeout = broker.conf.broker_retrieve_timeout_seconds
        if request.timeout is not None:
            timeout = max(0.0, request.timeout)
        deadline = time.monotonic() + timeout

        def attempt(
            wait_on: tuple[Sequence[str], float] | None = None,
        ) -> tuple[dict[InvocationId, Claim] | None, float | None]:
            # After a wait (``wait_on``) the round runs when the wait ends, with the time of
            # asking: the script records each claim after the invocation's current status, so
            # a claim of an invocation registered during the wait is recorded 1 us after it.
            record = self._claim_record(request.runner_id)
            now, token = self.app.clock.time(), new_token()
            raw = broker.run_script(
                "claim_round",
                [prefix, args.header(now, record, token, False), *args.queues],
                lambda: [prefix, args.header(now, record, token, True), *args.queues],
                deadline=deadline,
                wait_on=wait_on,
            )
            if len(raw) == 1:
                return None, float(raw[0]) if raw[0] else None
            broker.took_due(raw[0])
            return self._claims_from(raw, record, request.start, backend), None

        def woken(
            bells: list[str], seconds: float
        ) -> tuple[dict[InvocationId, Claim] | None, float | None]:
            return attempt((bells, seconds))

        return broker.poll(attempt, request.queues, timeout, woken) or {}

    def _finalize_and_claim(
        self, move: FinalMove, request: ClaimRequest
    ) -> tuple[CasResult, dict[InvocationId, Claim]]:
        """The final move and the round that follows it in one script
        (``lua/finish_claim.lua``)."""
        backend = self._colocated("state_backend")
        broker = self._colocated("broker")
        if backend is None or broker is None:
            return super()._finalize_and_claim(move, request)
        invocation_id, rule, record, history, serialized_result, serialized_exception = move
        kind, value = self._final_value(invocation_id, serialized_result, serialized_exception)
        prefix = self.store.prefix
        args = round_args(request, self._state_retention())
        claim = self._claim_record(request.runner_id)
        now, token = self.app.clock.time(), new_token()
        head = [
            prefix,
            self._transition_header(rule, record, "hp", kind, token),
            value,
            self._transition_item(invocation_id, history),
        ]

        def repeat() -> list[str]:
            return [*head, args.header(now, claim, token, True), "", *args.queues]

        waiting = broker.wait_after_step(request.timeout or 0.0, request.queues)
        if waiting is None:
            raw = self.store.script(
                "finish_claim",
                [*head, args.header(now, claim, token, False), "", *args.queues],
                repeat,
            )
        else:
            # nothing was due at this thread's last look: the wait for work, and the round
            # that follows it, go with the final step (one round trip; see finish_claim.lua)
            bells, seconds = waiting
            raw, after = self.store.script_then_wait(
                "finish_claim",
                [*head, args.header(now, claim, token, False), token, *args.queues],
                repeat,
                ([self.store.key("b", "self", token), *bells], seconds),
                "claim_round",
                [prefix, args.header(now, claim, token, False, guard=token), *args.queues],
            )
            if after is not None and len(raw) == 7:
                raw = [*raw[:6], *after]
        result, _ = _cas_result(raw, 0)
        if result.previous is None and not result.applied:
            return self._finalize(move), {}
        if result.applied and len(raw) == 7:
            broker.nothing_due(float(raw[6]) if raw[6] else None)
        elif result.applied:
            broker.took_due(raw[6])
        return result, self._claims_from(raw[6:], claim, request.start, backend)

    @staticmethod
    def _claims_from(
        raw: list[Any], record: InvocationStatusRecord, start: bool, backend: Any
    ) -> dict[InvocationId, Claim]:
        """The claims a round script returned (8 values per examined invocation, after the
        next due time); the stored calls go to the state backend for the load that follows."""
        runner_id = record.runner_id
        claims: dict[InvocationId, Claim] = {}
        for i in range(1, len(raw), 8):
            inv_id, applied, status, prev_runner, micros, conflict, at, call = raw[i : i + 8]
            invocation_id = InvocationId(inv_id)
            previous = record_from(status, prev_runner, micros) if status else None
            if not applied:
                claims[invocation_id] = Claim(
                    CasResult(False, previous, InvocationId(conflict) if conflict else None),
                    record,
                )
                continue
            claimed_at = int(at)
            started = None
            if start:
                started = InvocationStatusRecord(S.RUNNING, runner_id, from_micros(claimed_at + 1))
            claims[invocation_id] = Claim(
                CasResult(True, previous),
                InvocationStatusRecord(S.PENDING, runner_id, from_micros(claimed_at)),
                started,
            )
            if call:
                backend.prefetch(invocation_id, call)
        return claims

    def _finalize(self, move: FinalMove) -> CasResult:
        if self._colocated("state_backend") is None:
            return super()._finalize(move)
        invocation_id = move.invocation_id
        kind, value = self._final_value(
            invocation_id, move.serialized_result, move.serialized_exception
        )
        return self._retry_missing(
            lambda: self._transition(
                [invocation_id],
                move.rule,
                move.record,
                histories={invocation_id: move.history},
                flags="hp",
                value_kind=kind,
                value=value,
            )[0][0]
        )

    def _final_value(
        self,
        invocation_id: InvocationId,
        serialized_result: str | None,
        serialized_exception: str | None,
    ) -> tuple[str, str]:
        """(kind, value) of what a final move stores: ``r`` a result, ``e`` an exception, or
        nothing. A result too large to store is refused before anything is written (the
        runner then fails the invocation with that error); an exception too large is replaced
        by the (small) error saying so, quoting its beginning, so the invocation still ends."""
        if serialized_result is not None:
            self.store.check_size(serialized_result, f"result of invocation {invocation_id}")
            return "r", serialized_result
        if serialized_exception is None:
            return "", ""
        if self.store.size_error(serialized_exception, "exception") is None:
            return "e", serialized_exception
        quoted = RedisValueTooLargeError(
            f"The exception of invocation {invocation_id} is "
            f"{len(serialized_exception.encode()):,} bytes serialized, more than the "
            f"{self.store.max_value_bytes:,} bytes Redis accepts in one value "
            "(redis_max_value_bytes), so this error was stored in its place. It began: "
            f"{serialized_exception[:300]}"
        )
        return "e", self.app.state_backend.serialize_exception(quoted)

    def _retry_missing(self, attempt: Any) -> CasResult:
        """Upstream's meaning of ``redis_retry_*``: an operation that finds no status is
        retried with backoff before the caller is told."""
        result: CasResult = attempt()
        tries = 0
        while result.previous is None and not result.applied:
            if tries >= self.conf.redis_retry_max_attempts:
                return result
            time.sleep(self._retry_delay(tries))
            tries += 1
            result = attempt()
        return result

    def _retry_delay(self, attempt: int) -> float:
        conf = self.conf
        delay: float = conf.redis_retry_base_delay_sec * 2**attempt
        return min(delay, conf.redis_retry_max_delay_sec)

    # ------------------------------------------------------------------ reading statuses

    def _get_status_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        found = self._read_records(invocation_ids)
        if len(invocation_ids) == 1 and not found:
            for attempt in range(self.conf.redis_retry_max_attempts):
                time.sleep(self._retry_delay(attempt))
                found = self._read_records(invocation_ids)
                if found:
                    break
        return found

    def _read_records(
        self, invocation_ids: Sequence[InvocationId], with_results: bool = False
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Stored records; ``with_results`` also reads each one's result in the same round
        trip (when the state backend is on this server) and keeps the small ones of
        successful invocations where the state backend looks for notified results."""
        if not invocation_ids:
            return {}
        key = self.store.key
        results = with_results and self._colocated("state_backend") is not None

        def read(client: Any) -> list[Any]:
            if len(invocation_ids) == 1 and not results:
                return [client.hmget(key("o", "inv", invocation_ids[0]), "s", "r", "t")]
            pipe = client.pipeline(transaction=False)
            for inv_id in invocation_ids:
                pipe.hmget(key("o", "inv", inv_id), "s", "r", "t")
                if results:
                    pipe.get(key("s", "res", inv_id))
            return list(pipe.execute())

        replies = self.store.run(read)
        step = 2 if results else 1
        found: dict[InvocationId, InvocationStatusRecord] = {}
        for index, inv_id in enumerate(invocation_ids):
            status, runner_id, micros = replies[index * step]
            if status is None:
                continue
            found[inv_id] = record_from(status, runner_id or "", micros)
            if results and status == S.SUCCESS.value:
                value = replies[index * step + 1]
                if value is not None and len(value) <= INLINE_VALUE_BYTES:
                    self._finals.values.set(inv_id, "r", value)
        return found

    def get_final_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """The final records this process was recently notified of (final records never
        change, so they need no round trip), then the stored ones. A process that looks for
        final records awaits them: it subscribes to the notifications (without waiting for
        the subscription) so that later lookups find them notified."""
        if not self.store.connection.listener.is_subscribed(self._channel):
            self.watch_finals(0.0)
        known = self._finals.recent_records(invocation_ids)
        for inv_id, record in known.items():
            self._final_cache.set(inv_id, record)
        rest = [i for i in invocation_ids if i not in known] if known else invocation_ids
        if rest:
            known.update(self._read_final_records(rest))
        return known

    def _read_final_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """The stored final records (with the small results of successful ones, kept for the
        state backend, in the same round trip), remembering (per thread) which ids were found
        not final while the notifications were subscribed: a wait on them right after needs no
        second read. Invocations this process just registered while subscribed need no read
        at all: a final move after their registration is notified."""
        listener = self.store.connection.listener
        epoch = listener.epoch if listener.is_subscribed(self._channel) else None
        if epoch is not None and self._fresh_since(invocation_ids, epoch):
            self._reads.last = (tuple(invocation_ids), epoch, time.monotonic())
            return {}
        finals, unknown = self._cached_finals(invocation_ids)
        if unknown:
            found = self._read_records(unknown, with_results=True)
            missing = [i for i in unknown if i not in found]
            if missing:
                found.update(self._get_status_records(missing))
            for inv_id, record in found.items():
                if record.status in FINAL_STATUSES:
                    self._final_cache.set(inv_id, record)
                    finals[inv_id] = record
        self._reads.last = (tuple(invocation_ids), epoch, time.monotonic())
        return finals

    def _fresh_since(self, invocation_ids: Sequence[InvocationId], epoch: int) -> bool:
        """Whether every id was registered by this process while subscribed in ``epoch``,
        recently enough that a notification of its final move is still remembered (each
        registration answers one lookup)."""
        now = time.monotonic()
        notified = self._finals.notified
        fresh = True
        for inv_id in invocation_ids:
            mark = self._fresh.pop(inv_id)
            if (
                mark is None
                or mark[0] != epoch
                or now - mark[1] >= RECENT_SECONDS / 2
                or notified - mark[2] >= self._finals.capacity
            ):
                fresh = False
        return fresh

    def _just_read(self, invocation_ids: Sequence[InvocationId]) -> bool:
        """Whether this thread just read these ids' stored state while subscribed, with no
        subscription change since (so every later final move reaches the waiter)."""
        last = getattr(self._reads, "last", None)
        if last is None:
            return False
        ids, epoch, when = last
        return (
            epoch is not None
            and ids == tuple(invocation_ids)
            and epoch == self.store.connection.listener.epoch
            and time.monotonic() - when < RECENT_SECONDS / 2
        )

    def _increment_retries(self, invocation_id: InvocationId) -> int:
        return int(self.store.script("retries", [self.store.prefix, invocation_id]))

    def _get_retries(self, invocation_id: InvocationId) -> int:
        value = self.store.hget(self.store.key("o", "inv", invocation_id), "n")
        return int(value) if value else 0

    def _query_invocations(self, query: InvocationQuery) -> InvocationPage:
        mode, sources = self._query_source(query)
        args: list[Any] = [
            self.store.prefix,
            mode,
            query.cursor or "0",
            query.limit,
            max(QUERY_BUDGET, query.limit + 1),
            to_micros(query.registered_after) if query.registered_after else "",
            to_micros(query.registered_before) if query.registered_before else "",
            to_micros(query.status_changed_before) if query.status_changed_before else "",
            query.call_id or "",
            query.registration_key or "",
            query.running_key or "",
        ]
        for items in (
            sorted(query.task_ids or ()),
            sorted(s.value for s in query.statuses or ()),
            sorted(query.owner_ids or ()),
            sources,
        ):
            args += [len(items), *items]
        raw = self.store.script("query", args)
        return InvocationPage([InvocationId(i) for i in raw[1:]], raw[0] or None)

    @staticmethod
    def _query_source(query: InvocationQuery) -> tuple[str, list[str]]:
        """The narrowest index holding every match: an owner is only set in owned statuses,
        the registration-key holder is the REGISTERED one, the running-key set holds the
        active ones; otherwise the status sets, merged in registration order."""
        statuses = query.statuses
        if query.owner_ids is not None:
            return "own", sorted(query.owner_ids)
        if query.registration_key is not None and statuses and statuses <= {S.REGISTERED}:
            return "reg", [query.registration_key]
        if query.running_key is not None and statuses and statuses <= ACTIVE_STATUSES:
            return "run", [query.running_key]
        return "scan", sorted(s.value for s in (statuses or InvocationStatus))

    def _count_by_status(self, task_id: str | None) -> dict[InvocationStatus, int]:
        if task_id is not None:
            counts = self.store.hgetall(self.store.key("o", "tc", task_id))
            return {S(status): int(n) for status, n in counts.items() if int(n) > 0}
        statuses = list(InvocationStatus)

        def read(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for status in statuses:
                pipe.zcard(self.store.key("o", "st", status.value))
            return list(pipe.execute())

        return {s: int(n) for s, n in zip(statuses, self.store.run(read), strict=True) if n}

    # ------------------------------------------------------------------ waiting

    def _notify_final(self, invocation_ids: Sequence[InvocationId]) -> None:
        for start in range(0, len(invocation_ids), _CHUNK):
            chunk = invocation_ids[start : start + _CHUNK]
            self.store.script("notify", [self.store.prefix, *chunk])

    def watch_finals(self, timeout: float) -> bool:
        """Subscribe this process to the app's final notifications (once); True when the
        subscription is active."""
        listener = self.store.connection.listener
        if listener.is_subscribed(self._channel):
            return True
        return listener.watch(self._channel, self._finals, timeout)

    def wait_for_final(
        self, invocation_ids: Sequence[InvocationId], timeout: float
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Until every invocation is final (see the base class): wake on the final steps'
        notifications. The stored state is read once the waiter is registered and subscribed
        (nothing final before that is missed), again after any reconnection of the listener,
        and at growing intervals while it is not subscribed."""
        self.store.outbox.check_refused(invocation_ids)
        deadline = time.monotonic() + timeout
        waiter = self._finals.add(invocation_ids)
        wanted = len(set(invocation_ids))
        found = waiter.found  # the notified records (the listener adds them) and those read
        try:
            subscribed = self.watch_finals(min(timeout, self.store.settings.connect_timeout + 0.5))
            backoff = AdaptiveBackoff(initial=0.001, maximum=self.conf.wait_poll_max_seconds)
            read_store = not (subscribed and self._just_read(invocation_ids))
            while True:
                if len(found) < wanted and read_store:
                    waiter.recheck = False
                    found.update(
                        self.get_final_records([i for i in invocation_ids if i not in found])
                    )
                remaining = deadline - time.monotonic()
                if len(found) >= wanted or remaining <= 0:
                    records = dict(found)
                    for inv_id, record in records.items():
                        self._final_cache.set(inv_id, record)
                    return records
                if subscribed:
                    waiter.event.wait(remaining)
                else:
                    waiter.event.wait(min(remaining, backoff.next_delay()))
                    subscribed = self.store.connection.listener.is_subscribed(self._channel)
                waiter.event.clear()
                read_store = waiter.recheck or not subscribed
        finally:
            self._finals.remove(waiter)

    # ------------------------------------------------------------------ runners

    def _register_heartbeats(
        self, runner_ids: Sequence[str], can_run_atomic_service: bool, now: datetime
    ) -> None:
        self.store.note_runner()
        self.store.script(
            "heartbeats",
            [
                self.store.prefix,
                to_micros(now),
                "1" if can_run_atomic_service else "0",
                *runner_ids,
            ],
        )

    def _get_runner_infos(self) -> list[ActiveRunnerInfo]:
        stored = self.store.hgetall(self.store.key("o", "runners"))
        infos = []
        for runner_id, value in stored.items():
            created, last, allowed = value.split("|")
            infos.append(
                ActiveRunnerInfo(runner_id, from_micros(created), from_micros(last), allowed == "1")
            )
        return infos

    def _remove_runners(self, runner_ids: Sequence[str]) -> None:
        self.store.hdel(self.store.key("o", "runners"), *runner_ids)

    # ------------------------------------------------------------------ atomic services

    def _store_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        run_id = execution.atomic_service_run_id
        start = to_micros(execution.start_time)
        encoded = dumps(
            [
                execution.runner_id,
                run_id,
                start,
                None if execution.end_time is None else to_micros(execution.end_time),
                execution.status.value,
                execution.reason,
            ]
        )

        def write(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.hset(self.store.key("o", "atomic"), run_id, encoded)
            pipe.zadd(self.store.key("o", "atomic", "start"), {run_id: start})
            pipe.execute()

        self.store.run(write)

    def _get_atomic_service_executions(self, limit: int) -> list[AtomicServiceExecution]:
        import json

        run_ids = self.store.zrevrange(self.store.key("o", "atomic", "start"), 0, limit - 1)
        if not run_ids:
            return []
        stored = self.store.hmget(self.store.key("o", "atomic"), run_ids)
        executions = []
        for value in stored:
            if value is None:
                continue
            runner_id, run_id, start, end, status, reason = json.loads(value)
            executions.append(
                AtomicServiceExecution.from_raw(
                    runner_id,
                    run_id,
                    from_micros(start),
                    None if end is None else from_micros(end),
                    AtomicServiceExecutionStatus(status),
                    reason,
                )
            )
        return executions

    def _trim_atomic_service_executions(self, ended_before: datetime | None, keep: int) -> None:
        self.store.script(
            "atomic_trim",
            [self.store.prefix, to_micros(ended_before) if ended_before else "", keep],
        )

    # ------------------------------------------------------------------ blocking control

    def _add_waiting(self, waiter_id: InvocationId, waited_ids: Sequence[InvocationId]) -> None:
        self.store.script("waiting", [self.store.prefix, waiter_id, *waited_ids])

    def _remove_waiting(self, waiter_id: InvocationId) -> None:
        self.store.script("waiting", [self.store.prefix, waiter_id])

    def _get_waited_ids(self, limit: int) -> list[InvocationId]:
        ids = self.store.zrevrange(self.store.key("o", "waited"), 0, limit - 1)
        return [InvocationId(i) for i in ids]

    def _get_waiting_for(self, waiter_id: InvocationId) -> list[InvocationId]:
        ids = self.store.lrange(self.store.key("o", "wait", waiter_id))
        return [InvocationId(i) for i in ids]

    def _runnable_waited_ids(self, limit: int) -> list[InvocationId]:
        """The waited-on invocations a runner may claim now, read and filtered in one script;
        with the broker on this server the same script takes the round's due messages too."""
        broker = self._colocated("broker")
        if broker is not None:
            ids = broker.take_with_waited(limit, limit, RUNNABLE_WAITED)
        else:
            ids = self.store.script("runnable_waited", [self.store.prefix, limit, RUNNABLE_WAITED])
        return [InvocationId(i) for i in ids]

    # ------------------------------------------------------------------ purge

    def _delete_invocations(self, invocation_ids: Sequence[InvocationId]) -> None:
        for start in range(0, len(invocation_ids), _CHUNK):
            chunk = invocation_ids[start : start + _CHUNK]
            self.store.script("delete", [self.store.prefix, *chunk])
            for inv_id in chunk:
                self._final_cache.pop(inv_id)
                self._status_cache.pop(inv_id)
            self._finals.forget(chunk)

    def purge(self) -> None:
        self.store.delete_matching("o:*")
        self._final_cache.clear()
        self._status_cache.clear()
        self._fresh.clear()
        self._finals.forget()
