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
claim of the delivered invocations      each compare-and-set (with the running-key check),
                                        its history entry, the broker acknowledgement, and the
                                        stored calls the runner needs
status change                           the compare-and-set and its history entry
final move                              the compare-and-set, history, result or exception,
                                        and the pub/sub wake-up of result waiters
======================================  =====================================================

Round trips per task (a no-op call submitted by a client and run by a ThreadRunner with
blocking control on; counted by ``tests/test_round_trips.py``):

- client: 1 to register (a ``parallelize`` batch is 1 in all); awaiting a result it was
  notified of costs nothing (the notification carries small results), otherwise 1 for the
  status and 1 for the result.
- runner: 1 to move to RUNNING and 1 for the final move, plus per retrieval round (shared by
  the invocations claimed in it) 1 for the round (waited-on invocations and due messages, in
  one script) and 1 for the batch claim; an idle runner adds a blocking pop and a retrieval
  when it wakes.

Measured: 4.1 per task when 1,000 calls are submitted and then awaited (client 1.0, runner
3.1), 8 per task for one call at a time (client 2, runner 6).

Result waiters are woken through pub/sub (:mod:`pynenc.backends.redis.listener`) and read the
stored state again after any reconnection.
"""

from __future__ import annotations

import itertools
import os
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
    record_from,
    to_micros,
)
from pynenc.backends.redis.conf import ConfigOrchestratorRedis
from pynenc.backends.redis.connection import pack
from pynenc.backends.redis.listener import RECENT_SECONDS, finals_for
from pynenc.backends.redis.store import RedisStore
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    InvocationStatus,
    InvocationStatusRecord,
    TransitionRule,
)
from pynenc.orchestrator.atomic_service import (
    ActiveRunnerInfo,
    AtomicServiceExecution,
    AtomicServiceExecutionStatus,
)
from pynenc.orchestrator.base_orchestrator import (
    BaseOrchestrator,
    CasResult,
    InvocationPage,
    InvocationQuery,
    OrchestratorEntry,
)
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.util.waiting import AdaptiveBackoff

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.broker.base_broker import BrokerMessage
    from pynenc.invocation.dist_invocation import InvocationDTO
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


def rule_args(rule: TransitionRule) -> list[str]:
    return [
        rule.target.value,
        status_set(rule.from_any_runner),
        status_set(rule.from_owner_only),
        "1" if rule.exclusive else "0",
    ]


def clamp_priority(priority: int) -> str:
    return str(max(-MAX_PRIORITY, min(MAX_PRIORITY, priority)))


_TOKENS = itertools.count()
_TOKEN_PREFIX: list[tuple[int, str]] = []


def new_token() -> str:
    """A token no other call (of any process on any host) uses: a random per-process prefix
    and a counter."""
    pid = os.getpid()
    if not _TOKEN_PREFIX or _TOKEN_PREFIX[0][0] != pid:
        _TOKEN_PREFIX[:] = [(pid, os.urandom(6).hex())]
    return f"{_TOKEN_PREFIX[0][1]}{next(_TOKENS):x}"


class RedisOrchestrator(BaseOrchestrator):
    """Statuses, runners and scheduling records on a Redis server, shared by every process
    configured with the same server and app id."""

    config_cls: ClassVar[type[ConfigOrchestratorRedis]] = ConfigOrchestratorRedis
    conf: ConfigOrchestratorRedis
    cross_process: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)
        self._channel = self.store.key("o", "final")
        self._finals = finals_for(
            self.store.connection, self.store.prefix, self.conf.status_cache_size
        )
        self._reads = threading.local()

    # ------------------------------------------------------------------ co-location

    def _colocated(self, kind: str) -> Any:
        """The app's ``kind`` component when it is a Redis component on this server (its keys
        can be written in this orchestrator's scripts), else None."""
        component = getattr(self.app, kind)
        store = getattr(component, "store", None)
        return component if self.store.same_server(store) else None

    # ------------------------------------------------------------------ registration

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
        args: list[str] = [
            self.store.prefix,
            pack(record.runner_id or "", to_micros(record.timestamp), new_token()),
        ]
        for entry in entries:
            inv_id = entry.invocation_id
            history = histories.get(inv_id)
            message = messages.get(inv_id)
            args.append(
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
                )
            )
        reused = self.store.script("register", args)
        return {
            InvocationId(reused[i]): InvocationId(reused[i + 1]) for i in range(0, len(reused), 2)
        }

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
        retention = 0.0
        if value_kind or rule.target in FINAL_STATUSES:
            backend = self._colocated("state_backend")
            if backend is not None:
                retention = backend.conf.state_retention_hours * 3600
        args: list[str] = [
            self.store.prefix,
            pack(
                *rule_args(rule),
                record.runner_id or "",
                to_micros(record.timestamp),
                flags,
                value_kind,
                repr(retention),
                new_token(),
                INLINE_VALUE_BYTES,
            ),
            value,
            pack(*leases),
        ]
        for inv_id in invocation_ids:
            history = histories.get(inv_id) if histories else None
            if history is None:
                args.append(inv_id)
            else:
                args.append(pack(inv_id, to_micros(history.timestamp), encode_history(history)))
        raw = self.store.script("transition", args)
        results: list[tuple[CasResult, str]] = []
        for i in range(0, len(raw), 6):
            applied, status, runner_id, micros, conflict, call = raw[i : i + 6]
            previous = record_from(status, runner_id, micros) if status else None
            results.append(
                (
                    CasResult(
                        bool(applied), previous, InvocationId(conflict) if conflict else None
                    ),
                    call,
                )
            )
        return results

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
        from pynenc.invocation.status import transition_rule

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

    def _finalize(
        self,
        invocation_id: InvocationId,
        rule: TransitionRule,
        record: InvocationStatusRecord,
        history: InvocationHistory,
        serialized_result: str | None,
        serialized_exception: str | None,
    ) -> CasResult:
        if self._colocated("state_backend") is None:
            return super()._finalize(
                invocation_id, rule, record, history, serialized_result, serialized_exception
            )
        kind, value = "", ""
        if serialized_result is not None:
            kind, value = "r", serialized_result
            self.store.check_size(value, f"result of invocation {invocation_id}")
        elif serialized_exception is not None:
            kind, value = "e", serialized_exception
            self.store.check_size(value, f"exception of invocation {invocation_id}")
        return self._retry_missing(
            lambda: self._transition(
                [invocation_id],
                rule,
                record,
                histories={invocation_id: history},
                flags="hp",
                value_kind=kind,
                value=value,
            )[0][0]
        )

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
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        if not invocation_ids:
            return {}
        key = self.store.key

        def read(client: Any) -> list[Any]:
            if len(invocation_ids) == 1:
                return [client.hmget(key("o", "inv", invocation_ids[0]), "s", "r", "t")]
            pipe = client.pipeline(transaction=False)
            for inv_id in invocation_ids:
                pipe.hmget(key("o", "inv", inv_id), "s", "r", "t")
            return list(pipe.execute())

        found: dict[InvocationId, InvocationStatusRecord] = {}
        for inv_id, (status, runner_id, micros) in zip(
            invocation_ids, self.store.run(read), strict=True
        ):
            if status is not None:
                found[inv_id] = record_from(status, runner_id or "", micros)
        return found

    def get_final_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """The base lookup, after the final records this process was recently notified of
        (final records never change, so they need no round trip)."""
        known = self._finals.recent_records(invocation_ids)
        if not known:
            return self._read_final_records(invocation_ids)
        for inv_id, record in known.items():
            self._final_cache.set(inv_id, record)
        rest = [i for i in invocation_ids if i not in known]
        return {**known, **(self._read_final_records(rest) if rest else {})}

    def _read_final_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """The base lookup, remembering (per thread) which ids were found not final while the
        notifications were subscribed: a wait on them right after needs no second read."""
        listener = self.store.connection.listener
        epoch = listener.epoch if listener.is_subscribed(self._channel) else None
        finals = super().get_final_records(invocation_ids)
        self._reads.last = (tuple(invocation_ids), epoch, time.monotonic())
        return finals

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
        """Wake on the final step's notification. The stored state is read once the waiter is
        registered and subscribed (nothing final before that is missed), again after any
        reconnection of the listener, and at growing intervals while it is not subscribed."""
        deadline = time.monotonic() + timeout
        waiter = self._finals.add(invocation_ids)
        try:
            subscribed = self.watch_finals(min(timeout, self.store.settings.connect_timeout + 0.5))
            backoff = AdaptiveBackoff(initial=0.001, maximum=self.conf.wait_poll_max_seconds)
            read_store = not (subscribed and self._just_read(invocation_ids))
            while True:
                if waiter.found:
                    for inv_id, record in waiter.found.items():
                        self._final_cache.set(inv_id, record)
                    return dict(waiter.found)
                if read_store:
                    waiter.recheck = False
                    finals = self.get_final_records(invocation_ids)
                    if finals:
                        return finals
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {}
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
        self._finals.forget()
