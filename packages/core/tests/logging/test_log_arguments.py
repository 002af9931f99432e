"""Task arguments in logs: print_arguments is the master switch, argument_print_mode the shape."""

from __future__ import annotations

from typing import Any

import pytest

from pynenc.conf.config_pynenc import ArgumentPrintMode, ConfigPynenc
from pynenc.util.log import HIDDEN_ARGUMENTS, format_arguments, printable_arguments

from . import tasks_for_logging as t
from .conftest import RunningRunner, mem_app

ARGUMENTS = {"name": "short", "payload": "x" * 50}


def conf(**values: Any) -> ConfigPynenc:
    return ConfigPynenc(config_values=values)


@pytest.mark.parametrize("mode", list(ArgumentPrintMode))
def test_print_arguments_false_hides_arguments_whatever_the_mode(mode: ArgumentPrintMode) -> None:
    settings = conf(print_arguments=False, argument_print_mode=mode)
    assert printable_arguments(ARGUMENTS, settings) is None
    assert format_arguments(ARGUMENTS, settings) == HIDDEN_ARGUMENTS


def test_arguments_are_hidden_by_default() -> None:
    assert printable_arguments(ARGUMENTS, conf()) is None


def test_full_mode_shows_every_value_whole() -> None:
    settings = conf(print_arguments=True, argument_print_mode="full", truncate_arguments_length=5)
    assert printable_arguments(ARGUMENTS, settings) == f"name='short', payload={'x' * 50!r}"


def test_keys_mode_shows_only_argument_names() -> None:
    settings = conf(print_arguments=True, argument_print_mode="keys")
    assert printable_arguments(ARGUMENTS, settings) == "name, payload"


def test_truncated_mode_cuts_long_values_to_the_configured_length() -> None:
    settings = conf(
        print_arguments=True, argument_print_mode="truncated", truncate_arguments_length=10
    )
    assert printable_arguments(ARGUMENTS, settings) == "name='short', payload='xxxxxxxxx..."


def test_truncated_mode_with_length_zero_keeps_values_whole() -> None:
    settings = conf(
        print_arguments=True, argument_print_mode="truncated", truncate_arguments_length=0
    )
    assert printable_arguments(ARGUMENTS, settings) == f"name='short', payload={'x' * 50!r}"


def test_hidden_mode_hides_arguments_even_when_printing_is_on() -> None:
    settings = conf(print_arguments=True, argument_print_mode="hidden")
    assert printable_arguments(ARGUMENTS, settings) is None
    assert format_arguments(ARGUMENTS, settings) == HIDDEN_ARGUMENTS


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_a_value_whose_repr_fails_does_not_break_logging() -> None:
    settings = conf(print_arguments=True, argument_print_mode="full")
    assert printable_arguments({"v": BrokenRepr()}, settings) == "v=<BrokenRepr (repr failed)>"


def test_app_format_arguments_applies_the_app_config() -> None:
    app = mem_app(print_arguments=True, argument_print_mode="keys")
    assert app.format_arguments(ARGUMENTS) == "name, payload"


def run_secret_task(**config: Any) -> str:
    """Runs one task at DEBUG with a secret argument; returns everything logged."""
    app = mem_app(logging_level="debug", log_use_colors=False, **config)
    task = t.bind(app, t.use_secret)
    with RunningRunner(app):
        assert task("s3cr3t-token").wait(timeout=10) == len("s3cr3t-token")
    return task.task_id.key


def test_debug_task_lines_never_show_arguments_when_printing_is_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_key = run_secret_task(argument_print_mode="full")
    err = capsys.readouterr().err
    assert f"running {task_key}({HIDDEN_ARGUMENTS})" in err
    assert "s3cr3t" not in err


def test_debug_task_lines_show_arguments_per_the_mode_when_printing_is_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_key = run_secret_task(print_arguments=True, argument_print_mode="full")
    assert f"running {task_key}(token='s3cr3t-token')" in capsys.readouterr().err


def test_debug_task_lines_show_only_names_in_keys_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task_key = run_secret_task(print_arguments=True, argument_print_mode="keys")
    err = capsys.readouterr().err
    assert f"running {task_key}(token)" in err
    assert "s3cr3t" not in err
