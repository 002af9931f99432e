"""Fixtures for CLI tests: a clean environment, the sample apps importable from the working
directory (as ``pynenc --app`` finds them), and runners working in background threads."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from pynenc import Pynenc
from pynenc.cli.main import main
from pynenc.runner.thread_runner import ThreadRunner

SAMPLE_DIR = Path(__file__).parent / "sample_apps"
SAMPLE_PREFIX = "cli_sample"
MEM_STACK = {
    "orchestrator_cls": "MemOrchestrator",
    "broker_cls": "MemBroker",
    "state_backend_cls": "MemStateBackend",
    "trigger_cls": "MemTrigger",
    "client_data_store_cls": "MemClientDataStore",
    "runner_cls": "ThreadRunner",
}


def mem_stack_toml(**values: str) -> str:
    """The in-memory stack (``values`` replacing or adding keys) as TOML top-level keys, so
    tests never depend on the default components."""
    return "".join(f"{key} = {value!r}\n" for key, value in {**MEM_STACK, **values}.items())


MEM_STACK_TOML = mem_stack_toml()


@pytest.fixture(autouse=True)
def isolated_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No PYNENC variables from the machine; sys.path and the sample modules restored after."""
    for name in list(os.environ):
        if name.upper().startswith("PYNENC"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [name for name in sys.modules if name.startswith(SAMPLE_PREFIX)]:
        del sys.modules[name]


@pytest.fixture
def samples(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in the sample apps' directory, as a user runs ``pynenc`` from their project."""
    monkeypatch.chdir(SAMPLE_DIR)
    return SAMPLE_DIR


@pytest.fixture
def sample(samples: Path) -> ModuleType:
    """The sample app module, imported the way ``--app cli_sample_app`` imports it."""
    sys.path.insert(0, str(samples))
    return importlib.import_module("cli_sample_app")


@contextmanager
def running_runner(app: Pynenc) -> Iterator[ThreadRunner]:
    """A ThreadRunner working for ``app`` in a background thread."""
    runner = ThreadRunner(app)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop_runner_loop()
        assert runner.wait_until_stopped(15), "runner did not stop"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.005)


class CliRun:
    """The outcome of ``main(argv)`` run in this process."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """Run ``pynenc`` in this process and capture what it prints."""

    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
