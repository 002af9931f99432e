"""A module holding two apps, so ``--app cli_sample_two_apps`` is ambiguous."""

from __future__ import annotations

from pynenc import Pynenc

MEM_STACK = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
}

first = Pynenc(app_id="cli-first", config_values=MEM_STACK)
second = Pynenc(app_id="cli-second", config_values=MEM_STACK)
