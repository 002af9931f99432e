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
    ("serializer", "JsonSerializer", "pynenc.serializer.json_serializer:JsonSerializer"),
    ("serializer", "PickleSerializer", "pynenc.serializer.pickle_serializer:PickleSerializer"),
    ("runner", "DummyRunner", "pynenc.runner.base_runner:DummyRunner"),
    ("runner", "ExternalRunner", "pynenc.runner.base_runner:ExternalRunner"),
    ("runner", "ThreadRunner", "pynenc.runner.thread_runner:ThreadRunner"),
]


@hookimpl
def pynenc_plugin_info() -> PluginInfo:
    return PluginInfo(name="core", distribution="pynenc-core", contract_version=CONTRACT_VERSION)


@hookimpl
def pynenc_components() -> list[ComponentSpec]:
    return [ComponentSpec(kind, name, path) for kind, name, path in _BUILTINS]  # type: ignore[arg-type]
