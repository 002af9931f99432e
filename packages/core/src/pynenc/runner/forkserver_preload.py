"""Imported once by the ProcessRunner's fork server, so every forked child starts with the plugin
registry loaded and the built-in components imported (scanning entry points and importing cost
tens of milliseconds per process)."""

from pynenc.plugins.registry import get_registry

registry = get_registry()
for kind in ("orchestrator", "broker", "state_backend", "trigger", "client_data_store"):
    for name in registry.known_names(kind):
        if name.startswith(("SQLite", "Mem")):
            registry.resolve(kind, name)
