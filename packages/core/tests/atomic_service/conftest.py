"""Apps on the in-memory stack driven by a FakeClock, and helpers to act as runners."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.runner.runner_context import RunnerContext
from pynenc.util.clock import FakeClock

MEM_STACK: dict[str, Any] = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
}

CYCLE_ALIGNED_START = datetime(2030, 1, 1, tzinfo=UTC)
"""Midnight: a multiple of every cycle length the tests use, so slot arithmetic reads plainly."""


def clocked_app(clock: FakeClock, **config: Any) -> Pynenc:
    """A memory-stack app whose components read ``clock`` (set before any is built). Runners
    stay alive for 10 minutes without a heartbeat, as the tests advance the clock by cycles."""
    app = Pynenc(
        config_values={
            **MEM_STACK,
            "app_id": f"atomic-{uuid.uuid4().hex[:8]}",
            "runner_considered_dead_after_minutes": 10.0,
            **config,
        }
    )
    app.clock = clock
    return app


def runner_ctx(runner_id: str) -> RunnerContext:
    return RunnerContext("FakeRunner", runner_id, pid=os.getpid(), hostname="test-host")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.002)


class RecordingHandler(logging.Handler):
    """Keeps the records an app logger emits (app loggers do not propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(CYCLE_ALIGNED_START)


@pytest.fixture
def log_records() -> Iterator[Callable[[Pynenc], RecordingHandler]]:
    attached: list[tuple[logging.Logger, RecordingHandler]] = []

    def attach(app: Pynenc) -> RecordingHandler:
        handler = RecordingHandler()
        app.logger.addHandler(handler)
        attached.append((app.logger, handler))
        return handler

    yield attach
    for logger, handler in attached:
        logger.removeHandler(handler)
