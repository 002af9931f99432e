"""pynenc-redis: every pynenc component on one Redis server.

Select the components by name in the configuration (``orchestrator_cls = "RedisOrchestrator"``,
``broker_cls = "RedisBroker"``, ``state_backend_cls = "RedisStateBackend"``, ``trigger_cls =
"RedisTrigger"``, ``client_data_store_cls = "RedisClientDataStore"``) and point them at the
server with ``redis_url`` (see :class:`~pynenc.backends.redis.conf.ConfigRedis`). The names
below are imported on first access, so loading the plugin does not import ``redis``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.backends.redis.broker import RedisBroker
    from pynenc.backends.redis.client_data_store import RedisClientDataStore
    from pynenc.backends.redis.conf import (
        ConfigBrokerRedis,
        ConfigClientDataStoreRedis,
        ConfigOrchestratorRedis,
        ConfigRedis,
        ConfigStateBackendRedis,
        ConfigTriggerRedis,
    )
    from pynenc.backends.redis.orchestrator import RedisOrchestrator
    from pynenc.backends.redis.state_backend import RedisStateBackend
    from pynenc.backends.redis.trigger import RedisTrigger

_EXPORTS = {
    "RedisOrchestrator": "orchestrator",
    "RedisBroker": "broker",
    "RedisStateBackend": "state_backend",
    "RedisTrigger": "trigger",
    "RedisClientDataStore": "client_data_store",
    "ConfigRedis": "conf",
    "ConfigOrchestratorRedis": "conf",
    "ConfigBrokerRedis": "conf",
    "ConfigStateBackendRedis": "conf",
    "ConfigTriggerRedis": "conf",
    "ConfigClientDataStoreRedis": "conf",
}

__all__ = [
    "ConfigBrokerRedis",
    "ConfigClientDataStoreRedis",
    "ConfigOrchestratorRedis",
    "ConfigRedis",
    "ConfigStateBackendRedis",
    "ConfigTriggerRedis",
    "RedisBroker",
    "RedisClientDataStore",
    "RedisOrchestrator",
    "RedisStateBackend",
    "RedisTrigger",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pynenc.backends.redis' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
