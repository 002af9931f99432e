"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from pynenc.plugins.hookspecs import CONTRACT_VERSION, ComponentSpec, PluginInfo, hookimpl

_BUILTINS: list[tuple[str, str, str]] = [
    ("orchestrator", "MemOrchestrator", "pynenc.orchestrator.mem_orchestrator:MemOrchestrator"),
    ("broker", "MemBroker", "pynenc.broker.mem_broker:MemBroker"),
    ("state_backend", "MemStateBackend", "pynenc.state_backend.mem_state_backend:MemStateBackend"),
    ("trigger", "MemTrigger", "pynenc.trigger.mem_trigger:MemTrigger"),
    (
        "client_data_store",
        "MemClientDataStore",
        "pynenc.client_data_store.mem_client_data_store:MemClientDataStore",
    ),
    (
        "orchestrator",
        "SQLiteOrchestrator",
        "pynenc.orchestrator.sqlite_orchestrator:SQLiteOrchestrator",
    ),
    ("broker", "SQLiteBroker", "pynenc.broker.sqlite_broker:SQLiteBroker"),
    (
        "state_backend",
        "SQLiteStateBackend",
        "pynenc.state_backend.sqlite_state_backend:SQLiteStateBackend",
    ),
    ("trigger", "SQLiteTrigger", "pynenc.trigger.sqlite_trigger:SQLiteTrigger"),
    (
        "client_data_store",
        "SQLiteClientDataStore",
        "pynenc.client_data_store.sqlite_client_data_store:SQLiteClientDataStore",
    ),
    ("serializer", "JsonSerializer", "pynenc.serializer.json_serializer:JsonSerializer"),
    ("serializer", "PickleSerializer", "pynenc.serializer.pickle_serializer:PickleSerializer"),
    ("runner", "DummyRunner", "pynenc.runner.base_runner:DummyRunner"),
    ("runner", "ExternalRunner", "pynenc.runner.base_runner:ExternalRunner"),
    ("runner", "ThreadRunner", "pynenc.runner.thread_runner:ThreadRunner"),
    ("runner", "MultiThreadRunner", "pynenc.runner.multi_thread_runner:MultiThreadRunner"),
    (
        "runner",
        "PersistentProcessRunner",
        "pynenc.runner.persistent_process_runner:PersistentProcessRunner",
    ),
    ("runner", "ProcessRunner", "pynenc.runner.process_runner:ProcessRunner"),
]


@hookimpl
def pynenc_plugin_info() -> PluginInfo:
    return PluginInfo(name="core", distribution="pynenc-core", contract_version=CONTRACT_VERSION)


@hookimpl
def pynenc_components() -> list[ComponentSpec]:
    return [ComponentSpec(kind, name, path) for kind, name, path in _BUILTINS]  # type: ignore[arg-type]
