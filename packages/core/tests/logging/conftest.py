"""Fixtures for the logging tests: apps on the in-memory stack, a runner in a thread, and an
environment free of colour variables and PYNENC__ settings."""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.runner.thread_runner import ThreadRunner

MEM_STACK: dict[str, Any] = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
}


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Colour decisions and config depend only on what each test sets."""
    for name in list(os.environ):
        if name.upper().startswith("PYNENC__"):
            monkeypatch.delenv(name)
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def mem_app(**config: Any) -> Pynenc:
    """An app with a unique id on the in-memory stack (set explicitly: defaults may change)."""
    return Pynenc(config_values={**MEM_STACK, "app_id": f"log-{uuid.uuid4().hex[:8]}", **config})


class FakeTerminal(io.StringIO):
    """A captured stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


class RunningRunner:
    """A ThreadRunner working in a background thread for the duration of a test."""

    def __init__(self, app: Pynenc) -> None:
        self.runner = ThreadRunner(app)
        self.thread = threading.Thread(target=self.runner.run, daemon=True)

    def __enter__(self) -> ThreadRunner:
        self.thread.start()
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.runner.stop_runner_loop()
        assert self.runner.wait_until_stopped(15), "runner did not stop"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
