"""TEXT log format: one human line with runner and invocation context prefixes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.call import Call
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation import context
from pynenc.invocation.dist_invocation import DistributedInvocation
from pynenc.runner.runner_context import RunnerContext
from pynenc.util.log import compact_class_name, compact_id

from . import tasks_for_logging as t
from .conftest import RunningRunner, mem_app

RUNNER_ID = "ThreadRunner-8a2b1c3d4e5f"
INVOCATION_ID = InvocationId("4f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c")


@pytest.fixture
def in_task_context() -> Iterator[tuple[Pynenc, str]]:
    """The current thread works for a known runner and invocation; yields the app and task key."""
    app = mem_app()
    task = t.bind(app, t.add)
    invocation: DistributedInvocation[Any, Any] = DistributedInvocation(
        Call(task, {"x": 1, "y": 2}), INVOCATION_ID
    )
    ctx = RunnerContext("ThreadRunner", RUNNER_ID, 1234, "host")
    tokens = (
        context.current_runner_context.set(ctx),
        context.current_invocation.set(invocation),
    )
    yield app, task.task_id.key
    context.current_invocation.reset(tokens[1])
    context.current_runner_context.reset(tokens[0])


def log_line(capsys: pytest.CaptureFixture[str], **config: object) -> str:
    mem_app(log_use_colors=False, **config).logger.warning("hello")
    return capsys.readouterr().err


def test_text_line_shows_utc_time_level_logger_and_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = mem_app(log_use_colors=False)
    app.logger.warning("disk at %d%%", 91)
    line = capsys.readouterr().err
    pattern = rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} WARNING +pynenc\.app\.{app.app_id} "
    assert re.match(pattern + r"disk at 91%\n$", line)


def test_text_line_outside_runners_has_no_context_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "[" not in log_line(capsys)


def test_compact_context_prefix_shortens_ids_and_class_names(
    capsys: pytest.CaptureFixture[str], in_task_context: tuple[Pynenc, str]
) -> None:
    _, task_key = in_task_context
    line = log_line(capsys, compact_log_context=True)
    assert f"[TR(ThreadRunner-8a2b1c3)] [inv:4f3a2b1 {task_key}] hello" in line


def test_full_context_prefix_prints_whole_ids_and_names(
    capsys: pytest.CaptureFixture[str], in_task_context: tuple[Pynenc, str]
) -> None:
    _, task_key = in_task_context
    line = log_line(capsys, compact_log_context=False)
    assert f"[ThreadRunner({RUNNER_ID})] [inv:{INVOCATION_ID} {task_key}] hello" in line


def test_text_prefix_inside_a_running_task_names_its_runner_and_invocation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = mem_app(log_use_colors=False)
    task = t.bind(app, t.log_from_task)
    with RunningRunner(app) as runner:
        invocation = task("ping")
        invocation.wait(timeout=10)
    [line] = [x for x in capsys.readouterr().err.splitlines() if "from task: ping" in x]
    runner_id = compact_id(runner.runner_id)
    expected = f"[TR({runner_id})] [inv:{invocation.invocation_id[:7]} {task.task_id.key}]"
    assert expected in line


def test_text_exception_traceback_follows_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    app = mem_app(log_use_colors=False)
    try:
        raise ValueError("bad input")
    except ValueError:
        app.logger.exception("could not parse")
    first, *rest = capsys.readouterr().err.splitlines()
    assert first.endswith("could not parse")
    assert rest[0].startswith("Traceback")
    assert rest[-1] == "ValueError: bad input"


@pytest.mark.parametrize(
    ("class_name", "abbreviation"),
    [
        ("ThreadRunner", "TR"),
        ("MultiThreadRunner", "MTR"),
        ("ProcessRunner", "PR"),
        ("PersistentProcessRunner", "PPR"),
        ("ExternalRunner", "ER"),
        ("DummyRunner", "DR"),
        ("KubernetesJobRunner", "KJR"),
    ],
)
def test_compact_class_name_keeps_the_capitals(class_name: str, abbreviation: str) -> None:
    assert compact_class_name(class_name) == abbreviation


def test_compact_class_name_without_capitals_is_kept_whole() -> None:
    assert compact_class_name("runner") == "runner"


@pytest.mark.parametrize(
    ("identifier", "compacted"),
    [
        ("ThreadRunner-8a2b1c3d4e5f", "ThreadRunner-8a2b1c3"),
        ("4f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c", "4f3a2b1"),
        ("myhost-4242", "myhost-4242"),
    ],
)
def test_compact_id_cuts_the_random_part_to_seven_characters(
    identifier: str, compacted: str
) -> None:
    assert compact_id(identifier) == compacted


def test_logging_level_sets_the_app_logger_level(capsys: pytest.CaptureFixture[str]) -> None:
    app = mem_app(logging_level="warning", log_use_colors=False)
    app.logger.info("not shown")
    app.logger.warning("shown")
    err = capsys.readouterr().err
    assert app.logger.level == logging.WARNING
    assert "shown" in err and "not shown" not in err
