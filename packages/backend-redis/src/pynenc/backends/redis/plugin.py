"""Entry point of pynenc-redis (group ``pynenc.plugins``): who it is and what it provides.

Component classes are given by import path, so ``redis`` is imported only when a configuration
selects one of them.
"""

from __future__ import annotations

from pynenc.plugins import ComponentSpec, PluginInfo, hookimpl

CONTRACT_VERSION = "1"
"""The contract version this backend was written against. A literal on purpose: reusing the
core's constant would claim compatibility with whatever core happens to be installed."""

_MODULE = "pynenc.backends.redis"


@hookimpl
def pynenc_plugin_info() -> PluginInfo:
    return PluginInfo(name="redis", distribution="pynenc-redis", contract_version=CONTRACT_VERSION)


@hookimpl
def pynenc_components() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            "orchestrator", "RedisOrchestrator", f"{_MODULE}.orchestrator:RedisOrchestrator"
        ),
        ComponentSpec("broker", "RedisBroker", f"{_MODULE}.broker:RedisBroker"),
        ComponentSpec(
            "state_backend", "RedisStateBackend", f"{_MODULE}.state_backend:RedisStateBackend"
        ),
        ComponentSpec("trigger", "RedisTrigger", f"{_MODULE}.trigger:RedisTrigger"),
        ComponentSpec(
            "client_data_store",
            "RedisClientDataStore",
            f"{_MODULE}.client_data_store:RedisClientDataStore",
        ),
    ]
