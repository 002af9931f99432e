"""In-memory client data store."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar

from pynenc.client_data_store.base_client_data_store import BaseClientDataStore

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class MemClientDataStore(BaseClientDataStore):
    cross_process: ClassVar[bool] = False

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def _store(self, key: str, value: str) -> None:
        with self._lock:
            self._values[key] = value

    def _retrieve(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def purge(self) -> None:
        with self._lock:
            self._values.clear()
        self._cache.clear()
