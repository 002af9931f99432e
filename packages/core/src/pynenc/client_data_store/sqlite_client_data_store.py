"""SQLite client data store: large argument values, once per content hash, in the shared
database file."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pynenc.client_data_store.base_client_data_store import BaseClientDataStore
from pynenc.conf.config_client_data_store import ConfigClientDataStoreSQLite
from pynenc.util.sqlite import SQLiteComponent

if TYPE_CHECKING:
    pass


class SQLiteClientDataStore(SQLiteComponent, BaseClientDataStore):
    """Values by content hash, shared by every process using the same ``sqlite_db_path``."""

    config_cls: ClassVar[type[ConfigClientDataStoreSQLite]] = ConfigClientDataStoreSQLite
    conf: ConfigClientDataStoreSQLite

    def _store(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO pynenc_cds_values (app_id, key, value) VALUES (?, ?, ?)",
            (self.app.app_id, key, value),
        )

    def _retrieve(self, key: str) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM pynenc_cds_values WHERE app_id = ? AND key = ?",
            (self.app.app_id, key),
        )
        return None if row is None else str(row[0])

    def purge(self) -> None:
        self.db.delete_app_rows(["pynenc_cds_values"], self.app.app_id)
        self._cache.clear()
