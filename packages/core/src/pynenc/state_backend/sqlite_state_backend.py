"""SQLite state backend: invocations, history, results and workflow records in the shared
database file. Batches (invocations, history entries) are written in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.conf.config_state_backend import ConfigStateBackendSQLite
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.state_backend.base_state_backend import BaseStateBackend, InvocationHistory
from pynenc.util.sqlite import (
    Row,
    SQLiteComponent,
    chunks,
    from_micros,
    placeholders,
    to_micros,
)
from pynenc.workflow.identity import WorkflowIdentity

if TYPE_CHECKING:
    from pynenc.app import AppInfo
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext

_TABLES = (
    "pynenc_sb_invocations",
    "pynenc_sb_history",
    "pynenc_sb_results",
    "pynenc_sb_workflow_data",
    "pynenc_sb_workflow_runs",
    "pynenc_sb_workflow_subs",
    "pynenc_sb_app_info",
    "pynenc_sb_runner_contexts",
)
_RESULT = "result"
_EXCEPTION = "exception"
_HISTORY_COLUMNS = (
    "seq, invocation_id, ts, status, runner_id, status_ts, runner_context_id, registered_by_inv_id"
)
_INVOCATION_COLUMNS = (
    "invocation_id, call_id, parent_invocation_id, workflow_id, workflow_type, "
    "parent_workflow_id, arguments"
)


def _history(row: Row) -> InvocationHistory:
    _, inv_id, ts, status, runner_id, status_ts, context_id, registered_by = row
    return InvocationHistory(
        invocation_id=inv_id,
        status_record=InvocationStatusRecord(
            InvocationStatus(status), runner_id, from_micros(status_ts)
        ),
        runner_context_id=context_id,
        registered_by_inv_id=registered_by,
        _timestamp=from_micros(ts),
    )


def _dto_pair(row: Row) -> tuple[InvocationDTO, CallDTO]:
    from pynenc.invocation.dist_invocation import InvocationDTO

    inv_id, call_key, parent_id, wf_id, wf_type, parent_wf_id, arguments = row
    return InvocationDTO.pair_from_columns(
        inv_id, call_key, parent_id, wf_id, wf_type, parent_wf_id, json.loads(arguments)
    )


def _prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SQLiteStateBackend(SQLiteComponent, BaseStateBackend):
    """The durable record of invocations, shared by every process using the same
    ``sqlite_db_path``."""

    config_cls: ClassVar[type[ConfigStateBackendSQLite]] = ConfigStateBackendSQLite
    conf: ConfigStateBackendSQLite
    # ------------------------------------------------------------------ invocations

    def _upsert_invocations(self, entries: Sequence[tuple[InvocationDTO, CallDTO]]) -> None:
        app_id = self._app_id
        rows = []
        for inv, call in entries:
            workflow = inv.workflow
            rows.append(
                (
                    app_id,
                    inv.invocation_id,
                    inv.call_id.key,
                    inv.parent_invocation_id,
                    workflow.workflow_id if workflow else None,
                    workflow.workflow_type.key if workflow else None,
                    workflow.parent_workflow_id if workflow else None,
                    json.dumps(call.serialized_arguments, separators=(",", ":")),
                )
            )
        self.db.execute_many(
            "INSERT INTO pynenc_sb_invocations (app_id, invocation_id, call_id, "
            "parent_invocation_id, workflow_id, workflow_type, parent_workflow_id, arguments) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, invocation_id) DO UPDATE SET "
            "call_id = excluded.call_id, parent_invocation_id = excluded.parent_invocation_id, "
            "workflow_id = excluded.workflow_id, workflow_type = excluded.workflow_type, "
            "parent_workflow_id = excluded.parent_workflow_id, arguments = excluded.arguments",
            rows,
        )

    def _get_invocation(self, invocation_id: InvocationId) -> tuple[InvocationDTO, CallDTO] | None:
        row = self.db.query_one(
            f"SELECT {_INVOCATION_COLUMNS} FROM pynenc_sb_invocations "
            "WHERE app_id = ? AND invocation_id = ?",
            (self._app_id, invocation_id),
        )
        return None if row is None else _dto_pair(row)

    def _get_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, tuple[InvocationDTO, CallDTO]]:
        found: dict[InvocationId, tuple[InvocationDTO, CallDTO]] = {}
        for batch in chunks(invocation_ids):
            for row in self.db.query(
                f"SELECT {_INVOCATION_COLUMNS} FROM pynenc_sb_invocations "
                f"WHERE app_id = ? AND invocation_id IN ({placeholders(len(batch))})",
                (self._app_id, *batch),
            ):
                found[InvocationId(row[0])] = _dto_pair(row)
        return found

    def _get_child_invocations(self, parent_invocation_id: InvocationId) -> list[InvocationId]:
        return [
            InvocationId(row[0])
            for row in self.db.query(
                "SELECT invocation_id FROM pynenc_sb_invocations "
                "WHERE app_id = ? AND parent_invocation_id = ? ORDER BY seq",
                (self._app_id, parent_invocation_id),
            )
        ]

    def _find_invocation_ids_by_prefix(self, prefix: str, limit: int) -> list[InvocationId]:
        return [
            InvocationId(row[0])
            for row in self.db.query(
                "SELECT invocation_id FROM pynenc_sb_invocations WHERE app_id = ? "
                "AND invocation_id >= ? AND invocation_id < ? ORDER BY invocation_id LIMIT ?",
                (self._app_id, prefix, _prefix_upper_bound(prefix), limit),
            )
        ]

    # ------------------------------------------------------------------ history

    def _add_histories(self, histories: Sequence[InvocationHistory]) -> None:
        app_id = self._app_id
        self.db.execute_many(
            "INSERT INTO pynenc_sb_history (app_id, invocation_id, ts, status, runner_id, "
            "status_ts, runner_context_id, registered_by_inv_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    app_id,
                    h.invocation_id,
                    to_micros(h.timestamp),
                    h.status_record.status.value,
                    h.status_record.runner_id,
                    to_micros(h.status_record.timestamp),
                    h.runner_context_id,
                    h.registered_by_inv_id,
                )
                for h in histories
            ],
        )

    def _get_history(self, invocation_id: InvocationId) -> list[InvocationHistory]:
        return [
            _history(row)
            for row in self.db.query(
                f"SELECT {_HISTORY_COLUMNS} FROM pynenc_sb_history "
                "WHERE app_id = ? AND invocation_id = ? ORDER BY ts, seq",
                (self._app_id, invocation_id),
            )
        ]

    def _iter_history_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int
    ) -> Iterator[list[InvocationHistory]]:
        """Keyset pagination: each batch is its own short read, so no transaction stays open
        while the caller works through the batches."""
        start, end = to_micros(start_time), to_micros(end_time)
        after: tuple[int, int] = (start, -1)
        while True:
            rows = self.db.query(
                f"SELECT {_HISTORY_COLUMNS} FROM pynenc_sb_history WHERE app_id = ? "
                "AND ts >= ? AND ts < ? AND (ts, seq) > (?, ?) ORDER BY ts, seq LIMIT ?",
                (self._app_id, start, end, *after, batch_size),
            )
            if not rows:
                return
            yield [_history(row) for row in rows]
            if len(rows) < batch_size:
                return
            after = (rows[-1][2], rows[-1][0])

    # ------------------------------------------------------------------ results

    def _set_value(self, invocation_id: InvocationId, kind: str, value: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_sb_results (app_id, invocation_id, kind, value) "
            "VALUES (?, ?, ?, ?)",
            (self._app_id, invocation_id, kind, value),
        )

    def _get_value(self, invocation_id: InvocationId, kind: str) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM pynenc_sb_results WHERE app_id = ? AND invocation_id = ? "
            "AND kind = ?",
            (self._app_id, invocation_id, kind),
        )
        return None if row is None else str(row[0])

    def _set_result(self, invocation_id: InvocationId, serialized_result: str) -> None:
        self._set_value(invocation_id, _RESULT, serialized_result)

    def _get_result(self, invocation_id: InvocationId) -> str | None:
        return self._get_value(invocation_id, _RESULT)

    def _set_exception(self, invocation_id: InvocationId, serialized_exception: str) -> None:
        self._set_value(invocation_id, _EXCEPTION, serialized_exception)

    def _get_exception(self, invocation_id: InvocationId) -> str | None:
        return self._get_value(invocation_id, _EXCEPTION)

    # ------------------------------------------------------------------ workflows

    def _set_workflow_data(self, workflow_id: InvocationId, key: str, serialized: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_sb_workflow_data (app_id, workflow_id, key, value) "
            "VALUES (?, ?, ?, ?)",
            (self._app_id, workflow_id, key, serialized),
        )

    def _get_workflow_data(self, workflow_id: InvocationId, key: str) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM pynenc_sb_workflow_data WHERE app_id = ? AND workflow_id = ? "
            "AND key = ?",
            (self._app_id, workflow_id, key),
        )
        return None if row is None else str(row[0])

    def _store_workflow_run(self, workflow_identity: WorkflowIdentity) -> None:
        self.db.execute(
            "INSERT INTO pynenc_sb_workflow_runs (app_id, workflow_id, workflow_type, "
            "parent_workflow_id) VALUES (?, ?, ?, ?) ON CONFLICT (app_id, workflow_id) DO UPDATE "
            "SET workflow_type = excluded.workflow_type, "
            "parent_workflow_id = excluded.parent_workflow_id",
            (
                self._app_id,
                workflow_identity.workflow_id,
                workflow_identity.workflow_type.key,
                workflow_identity.parent_workflow_id,
            ),
        )

    def _get_workflow_runs(self, workflow_type: TaskId | None) -> list[WorkflowIdentity]:
        if workflow_type is None:
            rows = self.db.query(
                "SELECT workflow_id, workflow_type, parent_workflow_id "
                "FROM pynenc_sb_workflow_runs WHERE app_id = ? ORDER BY seq",
                (self._app_id,),
            )
        else:
            rows = self.db.query(
                "SELECT workflow_id, workflow_type, parent_workflow_id "
                "FROM pynenc_sb_workflow_runs WHERE app_id = ? AND workflow_type = ? "
                "ORDER BY seq",
                (self._app_id, workflow_type.key),
            )
        return [
            WorkflowIdentity(
                InvocationId(wf_id),
                TaskId.from_key(wf_type),
                InvocationId(parent) if parent else None,
            )
            for wf_id, wf_type, parent in rows
        ]

    def _store_workflow_sub_invocation(
        self, parent_workflow_id: InvocationId, sub_invocation_id: InvocationId
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO pynenc_sb_workflow_subs (app_id, workflow_id, "
            "sub_invocation_id) VALUES (?, ?, ?)",
            (self._app_id, parent_workflow_id, sub_invocation_id),
        )

    def _get_workflow_sub_invocations(self, workflow_id: InvocationId) -> list[InvocationId]:
        return [
            InvocationId(row[0])
            for row in self.db.query(
                "SELECT sub_invocation_id FROM pynenc_sb_workflow_subs "
                "WHERE app_id = ? AND workflow_id = ? ORDER BY seq",
                (self._app_id, workflow_id),
            )
        ]

    # ------------------------------------------------------------------ app info

    def _store_app_info(self, app_info: AppInfo) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_sb_app_info (app_id, info) VALUES (?, ?)",
            (app_info.app_id, app_info.to_json()),
        )

    def _get_app_info(self) -> AppInfo | None:
        from pynenc.app import AppInfo

        row = self.db.query_one(
            "SELECT info FROM pynenc_sb_app_info WHERE app_id = ?", (self._app_id,)
        )
        return None if row is None else AppInfo.from_json(row[0])

    def _discover_app_infos(self) -> dict[str, AppInfo]:
        from pynenc.app import AppInfo

        return {
            app_id: AppInfo.from_json(info)
            for app_id, info in self.db.query("SELECT app_id, info FROM pynenc_sb_app_info")
        }

    # ------------------------------------------------------------------ runner contexts

    def _store_runner_context(self, runner_context: RunnerContext) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pynenc_sb_runner_contexts (app_id, runner_id, context) "
            "VALUES (?, ?, ?)",
            (self._app_id, runner_context.runner_id, runner_context.to_json()),
        )

    def _get_runner_context(self, runner_id: str) -> RunnerContext | None:
        from pynenc.runner.runner_context import RunnerContext

        row = self.db.query_one(
            "SELECT context FROM pynenc_sb_runner_contexts WHERE app_id = ? AND runner_id = ?",
            (self._app_id, runner_id),
        )
        return None if row is None else RunnerContext.from_json(row[0])

    def _get_runner_contexts(self, runner_ids: Sequence[str]) -> list[RunnerContext]:
        from pynenc.runner.runner_context import RunnerContext

        found: dict[str, RunnerContext] = {}
        for batch in chunks(runner_ids):
            for runner_id, context in self.db.query(
                "SELECT runner_id, context FROM pynenc_sb_runner_contexts "
                f"WHERE app_id = ? AND runner_id IN ({placeholders(len(batch))})",
                (self._app_id, *batch),
            ):
                found[runner_id] = RunnerContext.from_json(context)
        return [found[r] for r in runner_ids if r in found]

    def _get_matching_runner_contexts(self, partial_id: str) -> list[RunnerContext]:
        from pynenc.runner.runner_context import RunnerContext

        return [
            RunnerContext.from_json(row[0])
            for row in self.db.query(
                "SELECT context FROM pynenc_sb_runner_contexts "
                "WHERE app_id = ? AND instr(runner_id, ?) > 0 ORDER BY runner_id",
                (self._app_id, partial_id),
            )
        ]

    # ------------------------------------------------------------------ purge

    def purge(self) -> None:
        self.db.delete_app_rows(_TABLES, self._app_id)
        self._runner_contexts.clear()
