"""The SQLite stack passes the whole conformance suite (as a backend author would run it)."""

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

import pytest

from pynenc.app import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import *  # noqa: F403
from pynenc.testing import Backdoor


@pytest.fixture
def pynenc_conformance_config(tmp_path: Path) -> dict[str, str]:
    return {
        "orchestrator_cls": "SQLiteOrchestrator",
        "broker_cls": "SQLiteBroker",
        "state_backend_cls": "SQLiteStateBackend",
        "trigger_cls": "SQLiteTrigger",
        "client_data_store_cls": "SQLiteClientDataStore",
        "sqlite_db_path": str(tmp_path / "conformance.db"),
    }


class SQLiteBackdoor(Backdoor):
    """Reads the database file with a connection of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _one(self, sql: str, *params: str) -> str | None:
        with closing(sqlite3.connect(self.path)) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else str(row[0])

    def read_status(self, app: Pynenc, invocation_id: InvocationId) -> InvocationStatus | None:
        status = self._one(
            "SELECT status FROM pynenc_orch_invocations WHERE app_id = ? AND invocation_id = ?",
            app.app_id,
            invocation_id,
        )
        return None if status is None else InvocationStatus(status)

    def read_result(self, app: Pynenc, invocation_id: InvocationId) -> str | None:
        return self._one(
            "SELECT value FROM pynenc_sb_results WHERE app_id = ? AND invocation_id = ? "
            "AND kind = 'result'",
            app.app_id,
            invocation_id,
        )

    def read_client_data(self, app: Pynenc) -> Mapping[str, str]:
        with closing(sqlite3.connect(self.path)) as conn:
            rows = conn.execute(
                "SELECT key, value FROM pynenc_cds_values WHERE app_id = ?", (app.app_id,)
            ).fetchall()
        return dict(rows)


@pytest.fixture
def pynenc_backdoor(tmp_path: Path) -> Backdoor:
    return SQLiteBackdoor(tmp_path / "conformance.db")
