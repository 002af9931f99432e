"""SQLite trigger storage in the shared database file.

The cron compare-and-set and the trigger-run claim are single conditional statements, atomic
across processes: exactly one caller changes the row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.conf.config_trigger import ConfigTriggerSQLite
from pynenc.trigger.base_trigger import BaseTrigger, EventRecord, TriggerRunRecord
from pynenc.util.sqlite import SQLiteComponent, from_micros, to_micros

if TYPE_CHECKING:
    pass

_TABLES = (
    "pynenc_trg_conditions",
    "pynenc_trg_triggers",
    "pynenc_trg_trigger_conditions",
    "pynenc_trg_valid_conditions",
    "pynenc_trg_cron_last_run",
    "pynenc_trg_runs",
    "pynenc_trg_events",
    "pynenc_trg_run_sources",
)


class SQLiteTrigger(SQLiteComponent, BaseTrigger):
    """Conditions, trigger definitions, claims and events, shared by every process using the
    same ``sqlite_db_path``."""

    config_cls: ClassVar[type[ConfigTriggerSQLite]] = ConfigTriggerSQLite
    conf: ConfigTriggerSQLite
    # ---- conditions and trigger definitions

    def _store_condition(self, condition_id: str, serialized: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_trg_conditions (app_id, condition_id, value) "
            "VALUES (?, ?, ?)",
            (self._app_id, condition_id, serialized),
        )

    def _get_condition(self, condition_id: str) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM pynenc_trg_conditions WHERE app_id = ? AND condition_id = ?",
            (self._app_id, condition_id),
        )
        return None if row is None else str(row[0])

    def _get_all_conditions(self) -> dict[str, str]:
        return {
            condition_id: value
            for condition_id, value in self.db.query(
                "SELECT condition_id, value FROM pynenc_trg_conditions WHERE app_id = ?",
                (self._app_id,),
            )
        }

    def _store_trigger(
        self, trigger_id: str, serialized: str, condition_ids: Sequence[str]
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pynenc_trg_triggers (app_id, trigger_id, value) "
                "VALUES (?, ?, ?)",
                (self._app_id, trigger_id, serialized),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO pynenc_trg_trigger_conditions (app_id, condition_id, "
                "trigger_id) VALUES (?, ?, ?)",
                [(self._app_id, condition_id, trigger_id) for condition_id in condition_ids],
            )

    def _get_trigger(self, trigger_id: str) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM pynenc_trg_triggers WHERE app_id = ? AND trigger_id = ?",
            (self._app_id, trigger_id),
        )
        return None if row is None else str(row[0])

    def _get_trigger_ids_for_condition(self, condition_id: str) -> list[str]:
        return [
            str(row[0])
            for row in self.db.query(
                "SELECT trigger_id FROM pynenc_trg_trigger_conditions "
                "WHERE app_id = ? AND condition_id = ? ORDER BY seq",
                (self._app_id, condition_id),
            )
        ]

    def _remove_trigger(self, trigger_id: str) -> None:
        with self.db.transaction() as conn:
            for table in ("pynenc_trg_triggers", "pynenc_trg_trigger_conditions"):
                conn.execute(
                    f"DELETE FROM {table} WHERE app_id = ? AND trigger_id = ?",
                    (self._app_id, trigger_id),
                )

    # ---- satisfied conditions

    def _add_valid_conditions(self, entries: Sequence[tuple[str, str, str]]) -> None:
        self.db.execute_many(
            "INSERT INTO pynenc_trg_valid_conditions (app_id, valid_id, condition_id, value) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (app_id, valid_id) DO UPDATE SET "
            "condition_id = excluded.condition_id, value = excluded.value",
            [(self._app_id, *entry) for entry in entries],
        )

    def _get_valid_conditions(self, limit: int) -> list[tuple[str, str, str]]:
        return [
            (valid_id, condition_id, value)
            for valid_id, condition_id, value in self.db.query(
                "SELECT valid_id, condition_id, value FROM pynenc_trg_valid_conditions "
                "WHERE app_id = ? ORDER BY seq LIMIT ?",
                (self._app_id, limit),
            )
        ]

    def _remove_valid_conditions(self, valid_condition_ids: Sequence[str]) -> None:
        self.db.execute_many(
            "DELETE FROM pynenc_trg_valid_conditions WHERE app_id = ? AND valid_id = ?",
            [(self._app_id, valid_id) for valid_id in valid_condition_ids],
        )

    # ---- atomic steps

    def _cas_cron_last_run(
        self, condition_id: str, expected: datetime | None, new: datetime
    ) -> bool:
        if expected is None:
            changed = self.db.execute_rowcount(
                "INSERT INTO pynenc_trg_cron_last_run (app_id, condition_id, last_run) "
                "VALUES (?, ?, ?) ON CONFLICT (app_id, condition_id) DO NOTHING",
                (self._app_id, condition_id, to_micros(new)),
            )
        else:
            changed = self.db.execute_rowcount(
                "UPDATE pynenc_trg_cron_last_run SET last_run = ? "
                "WHERE app_id = ? AND condition_id = ? AND last_run = ?",
                (to_micros(new), self._app_id, condition_id, to_micros(expected)),
            )
        return changed == 1

    def _get_cron_last_run(self, condition_id: str) -> datetime | None:
        row = self.db.query_one(
            "SELECT last_run FROM pynenc_trg_cron_last_run WHERE app_id = ? AND condition_id = ?",
            (self._app_id, condition_id),
        )
        return None if row is None else from_micros(row[0])

    def _claim_trigger_run(self, trigger_run_id: str, trigger_id: str, now: datetime) -> bool:
        changed = self.db.execute_rowcount(
            "INSERT INTO pynenc_trg_runs (app_id, run_id, trigger_id, claimed_at, invocation_ids) "
            "VALUES (?, ?, ?, ?, '[]') ON CONFLICT (app_id, run_id) DO NOTHING",
            (self._app_id, trigger_run_id, trigger_id, to_micros(now)),
        )
        return changed == 1

    def _reclaim_trigger_run(
        self, trigger_run_id: str, claimed_at: datetime, now: datetime
    ) -> bool:
        changed = self.db.execute_rowcount(
            "UPDATE pynenc_trg_runs SET claimed_at = ? WHERE app_id = ? AND run_id = ? "
            "AND claimed_at = ? AND invocation_ids = '[]'",
            (to_micros(now), self._app_id, trigger_run_id, to_micros(claimed_at)),
        )
        return changed == 1

    def _record_trigger_run_invocations(
        self, trigger_run_id: str, invocation_ids: Sequence[str]
    ) -> None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT invocation_ids FROM pynenc_trg_runs WHERE app_id = ? AND run_id = ?",
                (self._app_id, trigger_run_id),
            ).fetchone()
            if row is None:
                return
            conn.execute(
                "UPDATE pynenc_trg_runs SET invocation_ids = ? WHERE app_id = ? AND run_id = ?",
                (
                    json.dumps([*json.loads(row[0]), *invocation_ids]),
                    self._app_id,
                    trigger_run_id,
                ),
            )

    def _get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None:
        row = self.db.query_one(
            "SELECT trigger_id, claimed_at, invocation_ids FROM pynenc_trg_runs "
            "WHERE app_id = ? AND run_id = ?",
            (self._app_id, trigger_run_id),
        )
        if row is None:
            return None
        trigger_id, claimed_at, invocation_ids = row
        return TriggerRunRecord(
            trigger_run_id, trigger_id, from_micros(claimed_at), tuple(json.loads(invocation_ids))
        )

    def _add_trigger_run_sources(self, trigger_run_id: str, source_ids: Sequence[str]) -> None:
        self.db.execute_many(
            "INSERT OR IGNORE INTO pynenc_trg_run_sources (app_id, source_id, run_id) "
            "VALUES (?, ?, ?)",
            [(self._app_id, source_id, trigger_run_id) for source_id in source_ids],
        )

    def _get_trigger_run_ids_for_source(self, source_id: str) -> list[str]:
        return [
            str(row[0])
            for row in self.db.query(
                "SELECT run_id FROM pynenc_trg_run_sources WHERE app_id = ? AND source_id = ? "
                "ORDER BY seq",
                (self._app_id, source_id),
            )
        ]

    # ---- events

    def _store_event(self, event: EventRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_trg_events (app_id, event_id, event_code, payload, "
            "emitted_at) VALUES (?, ?, ?, ?, ?)",
            (
                self._app_id,
                event.event_id,
                event.event_code,
                event.payload,
                to_micros(event.emitted_at),
            ),
        )

    def _get_event(self, event_id: str) -> EventRecord | None:
        row = self.db.query_one(
            "SELECT event_code, payload, emitted_at FROM pynenc_trg_events "
            "WHERE app_id = ? AND event_id = ?",
            (self._app_id, event_id),
        )
        if row is None:
            return None
        code, payload, emitted_at = row
        return EventRecord(event_id, code, payload, from_micros(emitted_at))

    def _purge_records(
        self, events_before: datetime, runs_before: datetime, max_events: int, max_runs: int
    ) -> None:
        app_id = self._app_id
        with self.db.transaction() as conn:
            for table, stamp, key, before, keep in (
                ("pynenc_trg_events", "emitted_at", "event_id", events_before, max_events),
                ("pynenc_trg_runs", "claimed_at", "run_id", runs_before, max_runs),
            ):
                conn.execute(
                    f"DELETE FROM {table} WHERE app_id = ? AND {stamp} < ?",
                    (app_id, to_micros(before)),
                )
                if keep > 0:
                    conn.execute(
                        f"DELETE FROM {table} WHERE app_id = ? AND {key} NOT IN (SELECT {key} "
                        f"FROM {table} WHERE app_id = ? ORDER BY {stamp} DESC LIMIT ?)",
                        (app_id, app_id, keep),
                    )
            conn.execute(
                "DELETE FROM pynenc_trg_run_sources WHERE app_id = ? AND run_id NOT IN "
                "(SELECT run_id FROM pynenc_trg_runs WHERE app_id = ?)",
                (app_id, app_id),
            )

    def purge(self) -> None:
        self.db.delete_app_rows(_TABLES, self._app_id)
