"""SQLite orchestrator: invocation statuses in the shared database file.

Each status change is one ``BEGIN IMMEDIATE`` transaction that reads the current record,
applies the :class:`~pynenc.invocation.status.TransitionRule` and writes, so two runners in any
processes can never both move an invocation out of the same status. Result waiters in this
process wake on a condition; waiters in other processes poll with adaptive backoff, re-reading
only when the database changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_orchestrator import ConfigOrchestratorSQLite
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import (
    ACTIVE_STATUSES,
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
    Claim,
    ClaimRequest,
    FinalMove,
    InvocationPage,
    InvocationQuery,
    OrchestratorEntry,
    PendingFinals,
)
from pynenc.util.sqlite import (
    Row,
    SQLiteComponent,
    chunks,
    from_micros,
    placeholders,
    to_micros,
)
from pynenc.util.waiting import AdaptiveBackoff

if TYPE_CHECKING:
    from pynenc.broker.base_broker import BrokerMessage
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.state_backend.base_state_backend import InvocationHistory

_TABLES = (
    "pynenc_orch_invocations",
    "pynenc_orch_runners",
    "pynenc_orch_atomic_executions",
    "pynenc_orch_waiting",
)


_ACTIVE = tuple(sorted(s.value for s in ACTIVE_STATUSES))


def _record(status: str, runner_id: str | None, status_at: int) -> InvocationStatusRecord:
    return InvocationStatusRecord(InvocationStatus(status), runner_id, from_micros(status_at))


EAGER_WAIT_SECONDS = 0.5
"""How long a waiter checks the database file for changes made by other processes eagerly."""

EAGER_POLL_SECONDS = 0.002
"""The longest interval between those eager checks."""


class SQLiteOrchestrator(SQLiteComponent, BaseOrchestrator):
    """Statuses, runners and scheduling records in SQLite; shared by every process using the
    same ``sqlite_db_path``."""

    config_cls: ClassVar[type[ConfigOrchestratorSQLite]] = ConfigOrchestratorSQLite
    conf: ConfigOrchestratorSQLite
    # ------------------------------------------------------------------ statuses

    def _register_invocations(
        self, entries: Sequence[OrchestratorEntry], record: InvocationStatusRecord
    ) -> dict[InvocationId, InvocationId]:
        status_at = to_micros(record.timestamp)
        owner = record.owner_id
        app_id = self._app_id
        insert = (
            "INSERT OR IGNORE INTO pynenc_orch_invocations (app_id, invocation_id, task_id, "
            "call_id, registration_key, running_key, registered_at, status, runner_id, "
            "owner_id, status_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

        def row(e: OrchestratorEntry) -> Row:
            return (
                app_id,
                e.invocation_id,
                e.task_id,
                e.call_id,
                e.registration_key,
                e.running_key,
                to_micros(e.registered_at),
                record.status.value,
                record.runner_id,
                owner,
                status_at,
            )

        reused: dict[InvocationId, InvocationId] = {}
        with self.db.transaction() as conn:
            for batch in chunks([e.invocation_id for e in entries]):
                for (stored,) in conn.execute(
                    "SELECT invocation_id FROM pynenc_orch_invocations WHERE app_id = ? "
                    f"AND invocation_id IN ({placeholders(len(batch))})",
                    (app_id, *batch),
                ):
                    reused[InvocationId(stored)] = InvocationId(stored)
            fresh = [e for e in entries if e.invocation_id not in reused]
            if not any(e.registration_key is not None for e in fresh):
                conn.executemany(insert, [row(e) for e in fresh])
                return reused
            for entry in fresh:
                if entry.registration_key is not None:
                    holder = conn.execute(
                        "SELECT invocation_id FROM pynenc_orch_invocations WHERE app_id = ? "
                        "AND registration_key = ? AND status = ? LIMIT 1",
                        (app_id, entry.registration_key, InvocationStatus.REGISTERED.value),
                    ).fetchone()
                    if holder is not None:
                        reused[entry.invocation_id] = InvocationId(holder[0])
                        continue
                conn.execute(insert, row(entry))
        return reused

    def _cas_status(
        self, invocation_id: InvocationId, rule: TransitionRule, record: InvocationStatusRecord
    ) -> CasResult:
        key = (self._app_id, invocation_id)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, runner_id, status_at, running_key FROM pynenc_orch_invocations "
                "WHERE app_id = ? AND invocation_id = ?",
                key,
            ).fetchone()
            previous = _record(*row[:3]) if row else None
            if previous is None or not rule.allows(previous, record.runner_id or ""):
                return CasResult(False, previous)
            running_key = row[3]
            if rule.exclusive and running_key is not None:
                holder = conn.execute(
                    "SELECT invocation_id FROM pynenc_orch_invocations WHERE app_id = ? AND "
                    f"running_key = ? AND status IN ({placeholders(len(_ACTIVE))}) "
                    "AND invocation_id != ? LIMIT 1",
                    (self._app_id, running_key, *_ACTIVE, invocation_id),
                ).fetchone()
                if holder is not None:
                    return CasResult(False, previous, conflict=InvocationId(holder[0]))
            conn.execute(
                "UPDATE pynenc_orch_invocations SET status = ?, runner_id = ?, owner_id = ?, "
                "status_at = ? WHERE app_id = ? AND invocation_id = ?",
                (
                    record.status.value,
                    record.runner_id,
                    record.owner_id,
                    to_micros(record.timestamp),
                    *key,
                ),
            )
        return CasResult(True, previous)

    # ------------------------------------------------------------------ composite steps

    def _shares_database(self) -> bool:
        """Whether the state backend writes to this same database file: then each composite
        step runs as one transaction (one commit instead of one per component)."""
        return getattr(self.app.state_backend, "db", None) is self.db

    def _one_transaction(self) -> AbstractContextManager[object]:
        """A transaction around a composite step when it shares the database; else nothing
        (each component commits its own writes)."""
        return self.db.transaction() if self._shares_database() else nullcontext()

    def _cas_status_and_history(
        self,
        invocation_id: InvocationId,
        rule: TransitionRule,
        record: InvocationStatusRecord,
        history: InvocationHistory,
    ) -> CasResult:
        with self._one_transaction():
            return super()._cas_status_and_history(invocation_id, rule, record, history)

    def _claim_many(
        self,
        invocation_ids: Sequence[InvocationId],
        record: InvocationStatusRecord,
        histories: dict[InvocationId, InvocationHistory],
    ) -> dict[InvocationId, CasResult]:
        with self._one_transaction():
            return super()._claim_many(invocation_ids, record, histories)

    def _claim_step(self) -> AbstractContextManager[object]:
        """The claims (and starts) of each batch of a round, and the acknowledgement of its
        messages, in one transaction."""
        return self._one_transaction()

    def _finalize_and_claim(
        self, move: FinalMove, request: ClaimRequest
    ) -> tuple[CasResult, dict[InvocationId, Claim]]:
        """The final move and the round that follows it (which does not wait) in one
        transaction, when the broker shares the database too."""
        if not self._shares_database() or getattr(self.app.broker, "db", None) is not self.db:
            return super()._finalize_and_claim(move, request)
        with self.db.transaction():
            return super()._finalize_and_claim(move, request)

    def _finalize(self, move: FinalMove) -> CasResult:
        with self._one_transaction():
            return super()._finalize(move)

    def _register_batch(
        self,
        entries: Sequence[OrchestratorEntry],
        record: InvocationStatusRecord,
        dto_pairs: Sequence[tuple[InvocationDTO, CallDTO]],
        histories: Sequence[InvocationHistory],
        messages: Sequence[BrokerMessage],
    ) -> dict[InvocationId, InvocationId]:
        with self._one_transaction():
            return super()._register_batch(entries, record, dto_pairs, histories, messages)

    def _get_status_records(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        found: dict[InvocationId, InvocationStatusRecord] = {}
        for batch in chunks(invocation_ids):
            for inv_id, status, runner_id, status_at in self.db.query(
                "SELECT invocation_id, status, runner_id, status_at FROM pynenc_orch_invocations "
                f"WHERE app_id = ? AND invocation_id IN ({placeholders(len(batch))})",
                (self._app_id, *batch),
            ):
                found[InvocationId(inv_id)] = _record(status, runner_id, status_at)
        return found

    def _increment_retries(self, invocation_id: InvocationId) -> int:
        rows = self.db.execute(
            "UPDATE pynenc_orch_invocations SET retries = retries + 1 "
            "WHERE app_id = ? AND invocation_id = ? RETURNING retries",
            (self._app_id, invocation_id),
        )
        return int(rows[0][0]) if rows else 0

    def _get_retries(self, invocation_id: InvocationId) -> int:
        row = self.db.query_one(
            "SELECT retries FROM pynenc_orch_invocations WHERE app_id = ? AND invocation_id = ?",
            (self._app_id, invocation_id),
        )
        return int(row[0]) if row else 0

    def _query_invocations(self, query: InvocationQuery) -> InvocationPage:
        where = ["app_id = ?"]
        params: list[Any] = [self._app_id]

        def among(column: str, values: frozenset[str] | None) -> None:
            if values is not None:
                where.append(f"{column} IN ({placeholders(len(values))})")
                params.extend(sorted(values))

        def compare(clause: str, value: object) -> None:
            if value is not None:
                where.append(clause)
                params.append(value)

        among("task_id", query.task_ids)
        among(
            "status", None if query.statuses is None else frozenset(s.value for s in query.statuses)
        )
        among("owner_id", query.owner_ids)
        compare("call_id = ?", query.call_id)
        compare("registration_key = ?", query.registration_key)
        compare("running_key = ?", query.running_key)
        if query.registered_after is not None:
            compare("registered_at >= ?", to_micros(query.registered_after))
        if query.registered_before is not None:
            compare("registered_at < ?", to_micros(query.registered_before))
        if query.status_changed_before is not None:
            compare("status_at < ?", to_micros(query.status_changed_before))
        compare("seq > ?", int(query.cursor) if query.cursor else None)
        rows = self.db.query(
            f"SELECT seq, invocation_id FROM pynenc_orch_invocations WHERE {' AND '.join(where)} "
            "ORDER BY seq LIMIT ?",
            (*params, query.limit + 1),
        )
        page = rows[: query.limit]
        next_cursor = str(page[-1][0]) if len(rows) > query.limit else None
        return InvocationPage([InvocationId(r[1]) for r in page], next_cursor)

    def _count_by_status(self, task_id: str | None) -> dict[InvocationStatus, int]:
        if task_id is None:
            rows = self.db.query(
                "SELECT status, COUNT(*) FROM pynenc_orch_invocations WHERE app_id = ? "
                "GROUP BY status",
                (self._app_id,),
            )
        else:
            rows = self.db.query(
                "SELECT status, COUNT(*) FROM pynenc_orch_invocations "
                "WHERE app_id = ? AND task_id = ? GROUP BY status",
                (self._app_id, task_id),
            )
        return {InvocationStatus(status): count for status, count in rows}

    # ------------------------------------------------------------------ waiting

    def _notify_final(self, invocation_ids: Sequence[InvocationId]) -> None:
        self.db.notify(self.db.results_stored)

    def wait_for_final(
        self, invocation_ids: Sequence[InvocationId], timeout: float
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Until every invocation is final (see the base class). Wake at once for results
        stored by this process; poll for other processes, reading
        only when the file changed (a check of the file's version costs microseconds): every
        :data:`EAGER_POLL_SECONDS` at most during the first :data:`EAGER_WAIT_SECONDS`, when
        most results arrive, then at growing intervals capped by ``wait_poll_max_seconds``."""
        started = time.monotonic()
        deadline = started + timeout
        backoff = AdaptiveBackoff(initial=0.0005, maximum=self.conf.wait_poll_max_seconds)
        signal = self.db.results_stored
        last_version: int | None = None
        pending = PendingFinals(invocation_ids)
        while True:
            seen = signal.generation
            version = self.db.data_version()
            if version != last_version:
                last_version = version
                pending.check(self.get_final_records)
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return pending.found
            delay = backoff.next_delay()
            if time.monotonic() - started < EAGER_WAIT_SECONDS:
                delay = min(delay, EAGER_POLL_SECONDS)
            if signal.wait(seen, min(delay, remaining)):
                backoff.reset()

    # ------------------------------------------------------------------ runners

    def _register_heartbeats(
        self, runner_ids: Sequence[str], can_run_atomic_service: bool, now: datetime
    ) -> None:
        stamp = to_micros(now)
        self.db.execute_many(
            "INSERT INTO pynenc_orch_runners (app_id, runner_id, creation_time, last_heartbeat, "
            "allow_atomic) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, runner_id) DO UPDATE SET "
            "last_heartbeat = excluded.last_heartbeat, "
            "allow_atomic = max(allow_atomic, excluded.allow_atomic)",
            [
                (self._app_id, runner_id, stamp, stamp, int(can_run_atomic_service))
                for runner_id in runner_ids
            ],
        )

    def _get_runner_infos(self) -> list[ActiveRunnerInfo]:
        return [
            ActiveRunnerInfo(runner_id, from_micros(created), from_micros(last), bool(allowed))
            for runner_id, created, last, allowed in self.db.query(
                "SELECT runner_id, creation_time, last_heartbeat, allow_atomic "
                "FROM pynenc_orch_runners WHERE app_id = ?",
                (self._app_id,),
            )
        ]

    def _remove_runners(self, runner_ids: Sequence[str]) -> None:
        self.db.execute_many(
            "DELETE FROM pynenc_orch_runners WHERE app_id = ? AND runner_id = ?",
            [(self._app_id, runner_id) for runner_id in runner_ids],
        )

    # ------------------------------------------------------------------ atomic services

    def _store_atomic_service_execution(self, execution: AtomicServiceExecution) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_orch_atomic_executions (app_id, run_id, runner_id, "
            "start_time, end_time, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._app_id,
                execution.atomic_service_run_id,
                execution.runner_id,
                to_micros(execution.start_time),
                None if execution.end_time is None else to_micros(execution.end_time),
                execution.status.value,
                execution.reason,
            ),
        )

    def _get_atomic_service_executions(self, limit: int) -> list[AtomicServiceExecution]:
        return [
            _execution(row)
            for row in self.db.query(
                "SELECT runner_id, run_id, start_time, end_time, status, reason "
                "FROM pynenc_orch_atomic_executions WHERE app_id = ? "
                "ORDER BY start_time DESC LIMIT ?",
                (self._app_id, limit),
            )
        ]

    def _trim_atomic_service_executions(self, ended_before: datetime | None, keep: int) -> None:
        with self.db.transaction() as conn:
            if ended_before is not None:
                conn.execute(
                    "DELETE FROM pynenc_orch_atomic_executions WHERE app_id = ? "
                    "AND end_time IS NOT NULL AND end_time < ?",
                    (self._app_id, to_micros(ended_before)),
                )
            if keep > 0:
                conn.execute(
                    "DELETE FROM pynenc_orch_atomic_executions WHERE app_id = ? AND run_id NOT IN "
                    "(SELECT run_id FROM pynenc_orch_atomic_executions WHERE app_id = ? "
                    "ORDER BY start_time DESC LIMIT ?)",
                    (self._app_id, self._app_id, keep),
                )

    # ------------------------------------------------------------------ blocking control

    def _add_waiting(self, waiter_id: InvocationId, waited_ids: Sequence[InvocationId]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM pynenc_orch_waiting WHERE app_id = ? AND waiter_id = ?",
                (self._app_id, waiter_id),
            )
            conn.executemany(
                "INSERT INTO pynenc_orch_waiting (app_id, waiter_id, waited_id) VALUES (?, ?, ?)",
                [(self._app_id, waiter_id, waited) for waited in waited_ids],
            )

    def _remove_waiting(self, waiter_id: InvocationId) -> None:
        self.db.execute(
            "DELETE FROM pynenc_orch_waiting WHERE app_id = ? AND waiter_id = ?",
            (self._app_id, waiter_id),
        )

    def _get_waited_ids(self, limit: int) -> list[InvocationId]:
        return [
            InvocationId(row[0])
            for row in self.db.query(
                "SELECT waited_id FROM pynenc_orch_waiting WHERE app_id = ? GROUP BY waited_id "
                "ORDER BY COUNT(*) DESC, MIN(seq) LIMIT ?",
                (self._app_id, limit),
            )
        ]

    def _get_waiting_for(self, waiter_id: InvocationId) -> list[InvocationId]:
        return [
            InvocationId(row[0])
            for row in self.db.query(
                "SELECT waited_id FROM pynenc_orch_waiting WHERE app_id = ? AND waiter_id = ? "
                "ORDER BY seq",
                (self._app_id, waiter_id),
            )
        ]

    # ------------------------------------------------------------------ purge

    def _delete_invocations(self, invocation_ids: Sequence[InvocationId]) -> None:
        self.db.execute_many(
            "DELETE FROM pynenc_orch_invocations WHERE app_id = ? AND invocation_id = ?",
            [(self._app_id, inv_id) for inv_id in invocation_ids],
        )

    def purge(self) -> None:
        self.db.delete_app_rows(_TABLES, self._app_id)
        self._final_cache.clear()
        self._status_cache.clear()


def _execution(row: Row) -> AtomicServiceExecution:
    runner_id, run_id, start, end, status, reason = row
    return AtomicServiceExecution.from_raw(
        runner_id,
        run_id,
        from_micros(start),
        None if end is None else from_micros(end),
        AtomicServiceExecutionStatus(status),
        reason,
    )
