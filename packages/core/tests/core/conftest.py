"""Fixtures for the core's own tests: apps on the in-memory stack, a runner in a thread."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
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


def mem_app(**config: Any) -> Pynenc:
    return Pynenc(config_values={**MEM_STACK, "app_id": f"test-{uuid.uuid4().hex[:8]}", **config})


class RunningRunner:
    """A ThreadRunner working in a background thread for the duration of a test."""

    def __init__(self, runner: ThreadRunner) -> None:
        self.runner = runner
        self.thread = threading.Thread(target=runner.run, daemon=True)

    def __enter__(self) -> ThreadRunner:
        self.thread.start()
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.runner.stop_runner_loop()
        assert self.runner.wait_until_stopped(15), "runner did not stop"


@pytest.fixture
def app() -> Pynenc:
    return mem_app()


@pytest.fixture
def running(app: Pynenc) -> Iterator[ThreadRunner]:
    with RunningRunner(ThreadRunner(app)) as runner:
        yield runner
