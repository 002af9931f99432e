"""A runner that cannot import an invocation's task fails that invocation with a clear error and
keeps serving the tasks it can."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest

from pynenc import Pynenc
from pynenc.exceptions import TaskNotFoundError
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.base_runner import BaseRunner
from pynenc.runner.process_runner import ProcessRunner
from pynenc.runner.thread_runner import ThreadRunner

from .conftest import RunningRunner

MODULE = """
from pynenc import Pynenc

app = Pynenc()


@app.task
def add(x: int, y: int) -> int:
    return x + y
"""


@pytest.mark.parametrize("runner_cls", [ThreadRunner, ProcessRunner])
def test_missing_task_module_fails_the_invocation_and_the_runner_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner_cls: type[BaseRunner]
) -> None:
    monkeypatch.setenv("PYNENC__APP_ID", f"missing-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("PYNENC__SQLITE_DB_PATH", str(tmp_path / "pynenc.db"))
    (tmp_path / "shared_tasks_module.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    shared = importlib.import_module("shared_tasks_module")
    client: Pynenc = shared.app

    def orphan(x: int) -> int:
        return x

    orphan.__module__ = "module_only_the_client_has"
    orphan.__qualname__ = "orphan"
    missing = client.task(orphan)(1)
    fine = shared.add(1, 2)
    try:
        with RunningRunner(runner_cls(Pynenc())):
            with pytest.raises(TaskNotFoundError, match="module_only_the_client_has"):
                missing.wait(timeout=10)
            assert fine.wait(timeout=10) == 3
        assert missing.status == InvocationStatus.FAILED
    finally:
        sys.modules.pop("shared_tasks_module", None)
