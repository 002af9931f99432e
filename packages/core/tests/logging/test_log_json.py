"""JSON log format: one parseable object per line with the documented keys and context."""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime, timedelta

import pytest

from pynenc.invocation import context
from pynenc.runner.runner_context import RunnerContext
from pynenc.util.log import JsonFormatter, app_logger_name

from . import tasks_for_logging as t
from .conftest import RunningRunner, json_lines, mem_app


def test_json_line_holds_severity_timestamp_logger_message_and_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = mem_app(log_format="json")
    app.logger.warning("disk at %d%%", 91)
    [line] = json_lines(capsys.readouterr().err)
    assert line["severity"] == "WARNING"
    assert line["logger"] == app_logger_name(app.app_id)
    assert line["message"] == "disk at 91%"
    assert line["text"].endswith("disk at 91%")
    assert "WARNING" in line["text"]


def test_json_timestamp_is_iso8601_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app(log_format="json").logger.error("x")
    [line] = json_lines(capsys.readouterr().err)
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() == timedelta(0)


def test_json_line_outside_runners_has_no_context_keys(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app(log_format="json").logger.error("x")
    [line] = json_lines(capsys.readouterr().err)
    for key in ("runner_cls", "runner_id", "pid", "hostname", "invocation_id", "task_id"):
        assert key not in line


def test_json_line_inside_a_running_task_carries_runner_and_invocation_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = mem_app(log_format="json")
    task = t.bind(app, t.log_from_task)
    with RunningRunner(app) as runner:
        invocation = task("hello")
        assert invocation.wait(timeout=10) == "hello"
    lines = json_lines(capsys.readouterr().err)
    [line] = [x for x in lines if x["message"] == "from task: hello"]
    assert line["runner_cls"] == "ThreadRunner"
    assert line["runner_id"] == runner.runner_id
    assert line["pid"] == os.getpid()
    assert line["hostname"] == socket.gethostname()
    assert line["invocation_id"] == invocation.invocation_id
    assert line["task_id"] == task.task_id.key


def test_json_text_field_is_the_compact_human_line(capsys: pytest.CaptureFixture[str]) -> None:
    app = mem_app(log_format="json")
    task = t.bind(app, t.log_from_task)
    with RunningRunner(app) as runner:
        invocation = task("hi")
        invocation.wait(timeout=10)
    lines = json_lines(capsys.readouterr().err)
    [line] = [x for x in lines if x["message"] == "from task: hi"]
    runner_hex = runner.runner_id.rpartition("-")[2]
    assert f"[TR(ThreadRunner-{runner_hex[:7]})]" in line["text"]
    assert f"[inv:{invocation.invocation_id[:7]} {task.task_id.key}]" in line["text"]
    assert "\x1b[" not in line["text"]


def test_json_runner_lifecycle_lines_carry_the_runner_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = mem_app(log_format="json")
    with RunningRunner(app) as runner:
        pass
    lines = json_lines(capsys.readouterr().err)
    started = [x for x in lines if "started with" in x["message"]]
    assert started and started[0]["severity"] == "INFO"
    assert started[0]["runner_id"] == runner.runner_id
    assert "invocation_id" not in started[0]


def test_json_exception_field_holds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    app = mem_app(log_format="json")
    try:
        raise ValueError("bad input")
    except ValueError:
        app.logger.exception("could not parse")
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, "a traceback must not break the one-object-per-line rule"
    [line] = json_lines(err)
    assert line["message"] == "could not parse"
    assert line["severity"] == "ERROR"
    assert "Traceback" in line["exception"]
    assert "ValueError: bad input" in line["exception"]


def test_json_line_without_exception_has_no_exception_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mem_app(log_format="json").logger.error("plain")
    [line] = json_lines(capsys.readouterr().err)
    assert "exception" not in line


def test_json_multiline_message_stays_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app(log_format="json").logger.error("first\nsecond")
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert json_lines(err)[0]["message"] == "first\nsecond"


def test_json_ids_are_full_even_with_compact_context() -> None:
    ctx = RunnerContext("ThreadRunner", "ThreadRunner-8a2b1c3d4e5f", 1, "h")
    token = context.current_runner_context.set(ctx)
    try:
        record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
        payload = json.loads(JsonFormatter(compact=True).format(record))
    finally:
        context.current_runner_context.reset(token)
    assert payload["runner_id"] == "ThreadRunner-8a2b1c3d4e5f"
    assert "[TR(ThreadRunner-8a2b1c3)]" in payload["text"]
