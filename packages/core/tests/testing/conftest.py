"""Fixtures for testing the conformance suite itself."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def mem_stack() -> dict[str, str]:
    """Config values selecting the in-memory components (the default is SQLite on disk)."""
    return {
        "orchestrator_cls": "MemOrchestrator",
        "broker_cls": "MemBroker",
        "state_backend_cls": "MemStateBackend",
        "trigger_cls": "MemTrigger",
        "client_data_store_cls": "MemClientDataStore",
    }


@pytest.fixture
def importable_broken_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``broken_backends:...`` importable, as a backend author's own module would be."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
