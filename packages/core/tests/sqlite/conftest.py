"""Fixtures for the SQLite stack's own tests: apps on one database file per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pynenc import Pynenc

SQLITE_STACK: dict[str, Any] = {
    "orchestrator_cls": "SQLiteOrchestrator",
    "broker_cls": "SQLiteBroker",
    "state_backend_cls": "SQLiteStateBackend",
    "trigger_cls": "SQLiteTrigger",
    "client_data_store_cls": "SQLiteClientDataStore",
    "logging_level": "warning",
}

AppFactory = Callable[..., Pynenc]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "pynenc.db"


@pytest.fixture
def make_app(db_path: Path) -> AppFactory:
    """Apps on the SQLite stack sharing ``db_path``, each with its own app id unless given."""

    def build(app_id: str | None = None, **config: Any) -> Pynenc:
        values = {**SQLITE_STACK, "sqlite_db_path": str(db_path), **config}
        return Pynenc(app_id=app_id or f"sqlite-{uuid.uuid4().hex[:8]}", config_values=values)

    return build
