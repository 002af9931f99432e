"""Per-invocation events are DEBUG: at INFO nothing is logged, or even formatted, per task."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.util.log import app_logger_name

from . import tasks_for_logging as t
from .conftest import RunningRunner, json_lines, mem_app

LIFECYCLE = ("started with", "Runner shutting down", "stopped")


def run_adds(app: Pynenc, count: int) -> None:
    task = t.bind(app, t.add)
    with RunningRunner(app):
        invocations = [task(i, 1) for i in range(count)]
        assert [inv.wait(timeout=10) for inv in invocations] == [i + 1 for i in range(count)]


def count_format_calls(app: Pynenc, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = app.format_arguments

    def counting(arguments: Any) -> str:
        calls.append(1)
        return original(arguments)

    monkeypatch.setattr(app, "format_arguments", counting)
    return calls


def test_info_level_logs_only_runner_lifecycle_for_50_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_adds(mem_app(logging_level="info", log_format="json"), 50)
    messages = [line["message"] for line in json_lines(capsys.readouterr().err)]
    assert messages, "the runner start and stop are logged at INFO"
    assert all(any(word in m for word in LIFECYCLE) for m in messages), messages


def test_info_level_never_formats_task_arguments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mem_app(logging_level="info", print_arguments=True, argument_print_mode="full")
    calls = count_format_calls(app, monkeypatch)
    run_adds(app, 10)
    assert calls == []


def test_debug_level_logs_each_invocation_with_its_context(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mem_app(logging_level="debug", log_format="json")
    calls = count_format_calls(app, monkeypatch)
    run_adds(app, 10)
    lines = json_lines(capsys.readouterr().err)
    running = [x for x in lines if x["message"].startswith("running ")]
    succeeded = [x for x in lines if x["message"] == "succeeded"]
    assert len(running) == len(succeeded) == len(calls) == 10
    assert all(x["severity"] == "DEBUG" and "invocation_id" in x for x in running + succeeded)
    assert len({x["invocation_id"] for x in running}) == 10
    assert any(x["message"].startswith("claimed ") for x in lines)


def test_orchestrator_debug_lines_use_the_app_logger(capsys: pytest.CaptureFixture[str]) -> None:
    app = mem_app(logging_level="debug", log_format="json")
    task = t.bind(
        app, t.fail_once, retry_for=(ConnectionError,), max_retries=1, retry_backoff_base_seconds=0
    )
    key = f"retry-{uuid.uuid4().hex}"
    with RunningRunner(app):
        assert task(key).wait(timeout=10) == key
    retries = [x for x in json_lines(capsys.readouterr().err) if " retry 1 " in x["message"]]
    assert retries and retries[0]["logger"] == app_logger_name(app.app_id)
    assert retries[0]["severity"] == "DEBUG"
