"""ANSI colours: forced on, forced off, or automatic (terminal, NO_COLOR, FORCE_COLOR)."""

from __future__ import annotations

import io
import json

import pytest

from pynenc.util.log import should_use_colors

from .conftest import FakeTerminal, mem_app

ESC = "\x1b["


@pytest.mark.parametrize(
    ("setting", "tty", "environ", "expected"),
    [
        (True, False, {}, True),
        (True, False, {"NO_COLOR": "1"}, True),
        (False, True, {}, False),
        (False, True, {"FORCE_COLOR": "1"}, False),
        (None, True, {}, True),
        (None, False, {}, False),
        (None, True, {"NO_COLOR": "1"}, False),
        (None, True, {"NO_COLOR": ""}, True),
        (None, False, {"FORCE_COLOR": "1"}, True),
        (None, False, {"FORCE_COLOR": ""}, False),
        (None, True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (None, True, {"TERM": "dumb"}, False),
    ],
)
def test_should_use_colors_decision(
    setting: bool | None, tty: bool, environ: dict[str, str], expected: bool
) -> None:
    stream = FakeTerminal() if tty else io.StringIO()
    assert should_use_colors(setting, stream, environ) is expected


def test_closed_stream_gets_no_colors_in_auto_mode() -> None:
    stream = io.StringIO()
    stream.close()
    assert should_use_colors(None, stream, {}) is False


def log_to(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, **config: object) -> str:
    monkeypatch.setattr("sys.stderr", stream)
    mem_app(**config).logger.warning("hello")
    return stream.getvalue()


def test_forced_colors_appear_on_a_non_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ESC in log_to(monkeypatch, io.StringIO(), log_use_colors=True)


def test_disabled_colors_never_appear_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ESC not in log_to(monkeypatch, FakeTerminal(), log_use_colors=False)


def test_auto_colors_appear_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    output = log_to(monkeypatch, FakeTerminal())
    assert ESC in output
    assert output.rstrip("\n").endswith("hello")


def test_auto_colors_are_off_on_a_non_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ESC not in log_to(monkeypatch, io.StringIO())


def test_auto_colors_respect_no_color_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC not in log_to(monkeypatch, FakeTerminal())


def test_auto_colors_follow_force_color_on_a_non_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ESC in log_to(monkeypatch, io.StringIO())


def test_json_lines_never_carry_colors(monkeypatch: pytest.MonkeyPatch) -> None:
    output = log_to(monkeypatch, FakeTerminal(), log_use_colors=True, log_format="json")
    line = json.loads(output)
    assert "\x1b" not in line["text"] and "\x1b" not in line["severity"]
