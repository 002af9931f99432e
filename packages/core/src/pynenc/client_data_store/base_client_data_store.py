"""The client data store contract: serialize call arguments, keeping large values once.

An argument whose serialized form is longer than ``min_size_to_cache`` is stored under the hash
of its content and replaced in the call by a short reference, so a value passed to a thousand
calls is stored once and invocations stay small.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_client_data_store import ConfigClientDataStore
from pynenc.exceptions import ClientDataStoreError, SerializationError
from pynenc.util.cache import LRUCache

if TYPE_CHECKING:
    from pynenc.app import Pynenc

REFERENCE_PREFIX = "__pynenc_ref__:"


class BaseClientDataStore(ABC):
    """Serializes arguments; values above the size threshold are stored by content hash."""

    config_cls: ClassVar[type[ConfigClientDataStore]] = ConfigClientDataStore

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)
        self._cache: LRUCache[str, str] = LRUCache(self.conf.local_cache_size)

    @abstractmethod
    def _store(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``; storing the same key again is harmless."""

    @abstractmethod
    def _retrieve(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""

    @abstractmethod
    def purge(self) -> None:
        """Delete every stored value of the app."""

    def serialize_arguments(
        self, arguments: Mapping[str, Any], task_key: str = ""
    ) -> dict[str, str]:
        """Serialize each argument, replacing large ones by a content-hash reference."""
        serialize = self.app.serializer.serialize
        result: dict[str, str] = {}
        for name, value in arguments.items():
            try:
                serialized = serialize(value)
            except SerializationError as exc:
                where = f" of task '{task_key}'" if task_key else ""
                raise SerializationError(
                    f"Argument '{name}'{where} cannot be serialized: {exc}"
                ) from exc
            result[name] = self.store_if_large(serialized)
        return result

    def deserialize_arguments(self, serialized: Mapping[str, str]) -> dict[str, Any]:
        deserialize = self.app.serializer.deserialize
        return {name: deserialize(self.resolve(value)) for name, value in serialized.items()}

    def store_if_large(self, serialized: str) -> str:
        """Return ``serialized`` itself, or a reference to where it is now stored."""
        threshold = self.conf.min_size_to_cache
        if self.conf.disable_client_data_store or threshold <= 0 or len(serialized) < threshold:
            return serialized
        key = hashlib.sha256(serialized.encode()).hexdigest()
        if key not in self._cache:
            self._store(key, serialized)
            self._cache.set(key, serialized)
        return REFERENCE_PREFIX + key

    def resolve(self, value: str) -> str:
        """The serialized value behind a reference (or the value itself)."""
        if not value.startswith(REFERENCE_PREFIX):
            return value
        key = value[len(REFERENCE_PREFIX) :]
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stored = self._retrieve(key)
        if stored is None:
            raise ClientDataStoreError(
                f"Argument value '{key[:12]}...' is missing from the client data store: it was "
                "purged, or the runner uses another client data store than the caller."
            )
        self._cache.set(key, stored)
        return stored
