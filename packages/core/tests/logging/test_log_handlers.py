"""One handler per app logger, on the configured stream, never duplicated, never propagated."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from pynenc.util.log import PynencLogHandler, app_logger_name

from .conftest import mem_app


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def root_handler() -> Iterator[ListHandler]:
    handler = ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def pynenc_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, PynencLogHandler)]


def test_logs_go_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app().logger.warning("to stderr")
    captured = capsys.readouterr()
    assert "to stderr" in captured.err
    assert captured.out == ""


def test_log_stream_stdout_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app(log_stream="stdout").logger.warning("to stdout")
    captured = capsys.readouterr()
    assert "to stdout" in captured.out
    assert captured.err == ""


def test_log_stream_stdout_reaches_file_descriptor_1(capfd: pytest.CaptureFixture[str]) -> None:
    mem_app(log_stream="stdout").logger.warning("fd one")
    captured = capfd.readouterr()
    assert "fd one" in captured.out
    assert "fd one" not in captured.err


def test_app_logger_is_named_after_the_app_id() -> None:
    app = mem_app()
    assert app.logger.name == app_logger_name(app.app_id) == f"pynenc.app.{app.app_id}"


def test_repeated_logger_access_configures_once() -> None:
    app = mem_app()
    assert app.logger is app.logger
    assert len(pynenc_handlers(app.logger)) == 1


def test_apps_sharing_an_app_id_leave_one_handler_and_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = mem_app()
    apps = [first, *(mem_app(app_id=first.app_id) for _ in range(4))]
    for app in apps:
        app.logger.warning("configured")
    capsys.readouterr()
    first.logger.warning("once")
    assert len(pynenc_handlers(first.logger)) == 1
    assert capsys.readouterr().err.count("once") == 1


def test_building_apps_adds_no_handler_to_the_root_logger() -> None:
    before = list(logging.getLogger().handlers)
    for _ in range(3):
        mem_app().logger.warning("x")
    assert logging.getLogger().handlers == before


def test_app_lines_do_not_propagate_to_root_handlers(root_handler: ListHandler) -> None:
    mem_app().logger.warning("kept to the app handler")
    assert root_handler.records == []


def test_two_apps_log_each_in_their_own_format(capsys: pytest.CaptureFixture[str]) -> None:
    json_app = mem_app(log_format="json")
    text_app = mem_app(log_format="text", log_use_colors=False)
    json_app.logger.warning("from json app")
    text_app.logger.warning("from text app")
    json_line, text_line = capsys.readouterr().err.splitlines()
    assert json.loads(json_line)["message"] == "from json app"
    assert text_line.endswith("from text app")
    assert not text_line.startswith("{")


def test_two_apps_write_to_their_own_streams(capsys: pytest.CaptureFixture[str]) -> None:
    mem_app(log_stream="stdout").logger.warning("out app")
    mem_app(log_stream="stderr").logger.warning("err app")
    captured = capsys.readouterr()
    assert "out app" in captured.out and "out app" not in captured.err
    assert "err app" in captured.err and "err app" not in captured.out


def test_reconfiguring_keeps_handlers_added_by_the_user() -> None:
    first = mem_app()
    user_handler = ListHandler()
    first.logger.addHandler(user_handler)
    try:
        second = mem_app(app_id=first.app_id)
        second.logger.warning("seen by the user handler")
        assert user_handler in second.logger.handlers
        assert [r.getMessage() for r in user_handler.records] == ["seen by the user handler"]
    finally:
        first.logger.removeHandler(user_handler)
