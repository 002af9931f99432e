"""Redis client data store: large argument values, once per content hash, as ``c:<sha256>``
strings under the app's prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pynenc.backends.redis.conf import ConfigClientDataStoreRedis
from pynenc.backends.redis.store import RedisStore
from pynenc.client_data_store.base_client_data_store import BaseClientDataStore

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class RedisClientDataStore(BaseClientDataStore):
    """Values by content hash, shared by every process configured with the same server and
    app id."""

    config_cls: ClassVar[type[ConfigClientDataStoreRedis]] = ConfigClientDataStoreRedis
    conf: ConfigClientDataStoreRedis
    cross_process: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)

    def _store(self, key: str, value: str) -> None:
        self.store.check_size(value, "argument value")
        self.store.set(self.store.key("c", key), value, nx=True)

    def _retrieve(self, key: str) -> str | None:
        return self.store.get(self.store.key("c", key))

    def purge(self) -> None:
        self.store.delete_matching("c:*")
        self._cache.clear()
