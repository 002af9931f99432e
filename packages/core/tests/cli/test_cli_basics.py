"""The command line as a whole: help, exit statuses, ``version`` and ``status render``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pynenc import __version__
from pynenc.invocation.status import render_status_table

from .conftest import CliRun

Cli = Callable[..., CliRun]


def test_no_command_prints_the_help_and_exits_2(cli: Cli) -> None:
    run = cli()
    assert run.code == 2
    assert "usage: pynenc" in run.err


def test_help_exits_0(cli: Cli) -> None:
    run = cli("--help")
    assert run.code == 0
    for command in ("runner", "show_config", "status", "purge", "invocation", "conformance"):
        assert command in run.out


def test_an_unknown_option_is_a_usage_error(cli: Cli) -> None:
    run = cli("runner", "start", "--max-threads", "many")
    assert run.code == 2
    assert "invalid int value: 'many'" in run.err


def test_a_command_group_without_its_command_is_a_usage_error(cli: Cli) -> None:
    run = cli("invocation")
    assert run.code == 2
    assert "the following arguments are required: COMMAND" in run.err


def test_version_prints_the_core_version(cli: Cli) -> None:
    run = cli("version")
    assert run.code == 0
    assert run.out.splitlines()[0] == f"pynenc-core {__version__} (contract version 1)"


def test_status_render_prints_the_status_table(cli: Cli) -> None:
    run = cli("status", "render")
    assert run.code == 0
    assert run.out == render_status_table() + "\n"


def test_an_invalid_config_file_is_a_usage_error(cli: Cli, tmp_path: object) -> None:
    run = cli("--config", "/nonexistent/pynenc.toml", "show_config")
    assert run.code == 2
    assert "Config file /nonexistent/pynenc.toml does not exist" in run.err


def test_an_unexpected_error_is_one_line_unless_traceback_is_asked(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise OSError("disk on fire")

    monkeypatch.setattr("pynenc.invocation.status.render_status_table", broken)
    run = cli("status", "render")
    assert run.code == 1
    assert run.err == (
        "pynenc: error: unexpected OSError: disk on fire (run with --traceback for details)\n"
    )
    run = cli("--traceback", "status", "render")
    assert "Traceback (most recent call last)" in run.err
