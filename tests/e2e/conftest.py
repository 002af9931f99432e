"""Runners started the way users start them: ``pynenc --app ... runner start`` in a subprocess,
on a SQLite file of the test's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).parent
PYNENC = Path(sys.executable).with_name("pynenc")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # a poll with a deadline


class RunnerProcess:
    """One ``pynenc runner start`` subprocess."""

    def __init__(self, env: dict[str, str], log: Path, *options: str) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(PYNENC), "--app", "e2e_tasks:app", "runner", "start", *options],
            cwd=HERE,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text()


class E2E:
    """The environment of one test: its database, app and runner processes."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYNENC__")},
            "PYNENC__APP_ID": f"e2e-{uuid.uuid4().hex[:8]}",
            "PYNENC__SQLITE_DB_PATH": str(tmp_path / "pynenc.db"),
            "PYNENC__LOGGING_LEVEL": "info",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        for key in ("PYNENC__APP_ID", "PYNENC__SQLITE_DB_PATH"):
            monkeypatch.setenv(key, self.env[key])
        monkeypatch.syspath_prepend(str(HERE))
        sys.modules.pop("e2e_tasks", None)
        import e2e_tasks

        self.tasks: ModuleType = e2e_tasks
        self.runners: list[RunnerProcess] = []

    @property
    def app(self) -> Any:
        return self.tasks.app

    def start_runner(self, *options: str, **env: str) -> RunnerProcess:
        log = self.tmp_path / f"runner-{len(self.runners)}.log"
        runner = RunnerProcess({**self.env, **env}, log, *options)
        self.runners.append(runner)
        wait_for(
            lambda: "started with" in runner.output() or runner.process.poll() is not None,
            60,
            "the runner to start",
        )
        assert runner.process.poll() is None, runner.output()
        return runner

    def stop_all(self) -> None:
        for runner in self.runners:
            if runner.process.poll() is None:
                runner.process.send_signal(signal.SIGTERM)
        for runner in self.runners:
            try:
                runner.process.wait(60)
            except subprocess.TimeoutExpired:
                runner.process.kill()


@pytest.fixture
def e2e(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[E2E]:
    env = E2E(tmp_path, monkeypatch)
    try:
        yield env
    finally:
        env.stop_all()
        sys.modules.pop("e2e_tasks", None)
