"""SQLite broker: queued invocation ids in the shared database file.

A retrieval leases up to ``max_count`` due messages with one ``UPDATE ... RETURNING`` statement
(their ``not_before`` moves ``broker_lease_seconds`` ahead), so each message goes to one runner
in any process; the acknowledgement deletes them, and a message whose runner died before
acknowledging it falls due again when the lease ends. SQLite cannot notify, so a waiting
runner wakes at once when this process routes work (a condition) and otherwise polls with
adaptive backoff, reading only when the file changed or a delayed message fell due.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pynenc.broker.base_broker import BaseBroker, BrokerMessage
from pynenc.conf.config_broker import ConfigBrokerSQLite
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.util.sqlite import SQLiteComponent, chunks, placeholders
from pynenc.util.waiting import AdaptiveBackoff

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class SQLiteBroker(SQLiteComponent, BaseBroker):
    """Named queues with priorities and delayed delivery, shared by every process using the
    same ``sqlite_db_path``."""

    config_cls: ClassVar[type[ConfigBrokerSQLite]] = ConfigBrokerSQLite
    conf: ConfigBrokerSQLite

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._leases: dict[InvocationId, list[int]] = {}
        self._leases_lock = threading.Lock()

    def _route(self, messages: Sequence[BrokerMessage]) -> None:
        app_id = self.app.app_id
        self.db.execute_many(
            "INSERT INTO pynenc_broker_messages (app_id, queue, priority, not_before, "
            "invocation_id) VALUES (?, ?, ?, ?, ?)",
            [(app_id, m.queue, m.priority, m.not_before or 0.0, m.invocation_id) for m in messages],
        )
        self.db.notify(self.db.work_routed)

    def _retrieve(
        self, max_count: int, queues: Sequence[str] | None, timeout: float
    ) -> list[InvocationId]:
        deadline = time.monotonic() + timeout
        backoff = AdaptiveBackoff(initial=0.0005, maximum=self.conf.sqlite_poll_max_seconds)
        signal = self.db.work_routed
        last_version: int | None = None
        next_due: float | None = None
        while True:
            seen = signal.generation
            version = self.db.data_version()
            now = self.app.clock.time()
            if version != last_version or (next_due is not None and next_due <= now):
                last_version = version
                due, next_due = self._peek(queues, now)
                if due:
                    claimed = self._claim(max_count, queues, now)
                    if claimed:
                        return claimed
                    last_version = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            wait = min(backoff.next_delay(), remaining)
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - now))
            if signal.wait(seen, wait):
                backoff.reset()

    def _queue_filter(self, queues: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
        if queues is None:
            return "", ()
        return f" AND queue IN ({placeholders(len(queues))})", tuple(queues)

    def _peek(self, queues: Sequence[str] | None, now: float) -> tuple[bool, float | None]:
        """Whether a message is due, and when the earliest delayed one falls due (a read only,
        so idle runners never take the write lock)."""
        where, names = self._queue_filter(queues)
        app_id = self.app.app_id
        row = self.db.query_one(
            "SELECT EXISTS (SELECT 1 FROM pynenc_broker_messages "
            f"WHERE app_id = ?{where} AND not_before <= ?), "
            "(SELECT MIN(not_before) FROM pynenc_broker_messages "
            f"WHERE app_id = ?{where} AND not_before > 0 AND not_before > ?)",
            (app_id, *names, now, app_id, *names, now),
        )
        if row is None:
            return False, None
        return bool(row[0]), row[1]

    def _claim(
        self, max_count: int, queues: Sequence[str] | None, now: float
    ) -> list[InvocationId]:
        """Lease and return the best due messages: higher priority first, FIFO within one."""
        where, names = self._queue_filter(queues)
        rows = self.db.execute(
            "UPDATE pynenc_broker_messages SET not_before = ?, leased = 1 WHERE seq IN "
            f"(SELECT seq FROM pynenc_broker_messages WHERE app_id = ?{where} AND not_before <= ? "
            "ORDER BY priority DESC, seq LIMIT ?) RETURNING priority, seq, invocation_id",
            (now + self.conf.broker_lease_seconds, self.app.app_id, *names, now, max_count),
        )
        rows.sort(key=lambda row: (-row[0], row[1]))
        with self._leases_lock:
            for _, seq, invocation_id in rows:
                self._leases.setdefault(InvocationId(invocation_id), []).append(seq)
        return [InvocationId(row[2]) for row in rows]

    def _ack(self, invocation_ids: Sequence[InvocationId]) -> None:
        with self._leases_lock:
            seqs = [s for i in invocation_ids for s in self._leases.pop(i, ())]
        for batch in chunks(seqs):
            self.db.execute(
                f"DELETE FROM pynenc_broker_messages WHERE seq IN ({placeholders(len(batch))})",
                batch,
            )

    def _count(self, queue: str | None) -> int:
        if queue is None:
            row = self.db.query_one(
                "SELECT COUNT(*) FROM pynenc_broker_messages WHERE app_id = ? AND leased = 0",
                (self.app.app_id,),
            )
        else:
            row = self.db.query_one(
                "SELECT COUNT(*) FROM pynenc_broker_messages "
                "WHERE app_id = ? AND queue = ? AND leased = 0",
                (self.app.app_id, queue),
            )
        return int(row[0]) if row else 0

    def purge(self) -> None:
        self.db.delete_app_rows(["pynenc_broker_messages"], self.app.app_id)
