"""``pynenc show_config``: every field, its value and its source, grouped by config class."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pynenc.cli.commands.show_config import format_value
from pynenc.conf.config_task import ConcurrencyControlType

from .conftest import MEM_STACK_TOML, CliRun, mem_stack_toml

Cli = Callable[..., CliRun]


def _group(output: str, title_start: str) -> list[str]:
    """The lines of the group whose title starts with ``title_start``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def _row(output: str, title_start: str, field: str) -> list[str]:
    """A field's row as [name, value, source] (columns are two or more spaces apart)."""
    for line in _group(output, title_start):
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == field:
            return cells
    raise AssertionError(f"no row {field!r} in group {title_start!r}")


def test_every_component_config_is_shown_as_a_group(samples: Path, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "show_config")
    assert run.code == 0
    titles = [line for line in run.out.splitlines() if line and not line.startswith(" ")]
    assert titles[:8] == [
        "ConfigPynenc (app 'cli-sample')",
        "ConfigOrchestrator (orchestrator: MemOrchestrator)",
        "ConfigBroker (broker: MemBroker)",
        "ConfigStateBackend (state_backend: MemStateBackend)",
        "ConfigTrigger (trigger: MemTrigger)",
        "ConfigClientDataStore (client_data_store: MemClientDataStore)",
        "ConfigThreadRunner (runner: ThreadRunner)",
        "ConfigTask (task defaults)",
    ]


def test_each_field_shows_its_value_and_where_it_came_from(samples: Path, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "show_config")
    assert _row(run.out, "ConfigPynenc", "app_id") == [
        "app_id",
        "cli-sample",
        "config_values['app_id']",
    ]
    assert _row(run.out, "ConfigOrchestrator", "cycle_control") == [
        "cycle_control",
        "true",
        "field default",
    ]


def test_every_field_of_a_config_class_is_listed(samples: Path, cli: Cli) -> None:
    from pynenc.conf.config_runner import ConfigThreadRunner

    run = cli("--app", "cli_sample_app", "show_config")
    shown = [re.split(r"\s{2,}", line.strip())[0] for line in _group(run.out, "ConfigThreadRunner")]
    assert shown[2:] == list(ConfigThreadRunner.config_fields())


def test_values_from_a_config_file_name_the_file(tmp_path: Path, cli: Cli) -> None:
    config = tmp_path / "pynenc.json"
    config.write_text(
        '{"app_id": "from-file", "orchestrator_cls": "MemOrchestrator", '
        '"orchestrator": {"cycle_control": false}}'
    )
    run = cli("--config", str(config), "show_config")
    assert run.code == 0
    assert _row(run.out, "ConfigPynenc", "app_id")[1:] == ["from-file", f"{config} (top level)"]
    assert _row(run.out, "ConfigOrchestrator", "cycle_control")[1:] == [
        "false",
        f"{config} [orchestrator]",
    ]
    assert f"Config files read (lowest precedence first): {config}" in run.out


def test_environment_values_name_the_variable(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pynenc.toml").write_text(MEM_STACK_TOML)
    monkeypatch.setenv("PYNENC__CONFIGTHREADRUNNER__MAX_THREADS", "7")
    run = cli("show_config")
    assert _row(run.out, "ConfigThreadRunner", "max_threads")[1:] == [
        "7",
        "env PYNENC__CONFIGTHREADRUNNER__MAX_THREADS",
    ]


def test_the_config_option_reaches_an_app_loaded_with_app(
    samples: Path, tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "pynenc.toml"
    config.write_text("logging_level = 'debug'\n")
    run = cli("--app", "cli_sample_app", "--config", str(config), "show_config")
    assert _row(run.out, "ConfigPynenc", "logging_level")[1:] == [
        "debug",
        f"{config} (top level)",
    ]
    assert "did not read --config" not in run.err


def test_secrets_are_redacted(samples: Path, cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "pynenc.toml"
    config.write_text(
        mem_stack_toml(broker_cls="cli_sample_components:SecretBroker", broker_password="hunter2")
    )
    run = cli("--config", str(config), "show_config")
    assert run.code == 0
    assert _row(run.out, "ConfigSecretBroker", "broker_password")[1] == "********"
    assert "hunter2" not in run.out


def test_columns_line_up_across_groups(samples: Path, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "show_config")
    rows = [
        line
        for line in run.out.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    ]
    value_columns = {len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in rows}
    assert len(rows) > 40
    assert len(value_columns) == 1


def test_keys_no_config_class_reads_are_listed(tmp_path: Path, cli: Cli) -> None:
    config = tmp_path / "pynenc.toml"
    config.write_text(MEM_STACK_TOML + "max_thraeds = 4\n")
    run = cli("--config", str(config), "show_config")
    assert "Keys no config class reads" in run.out
    assert f"max_thraeds ({config} (top level))" in run.out


def test_docs_are_printed_on_request(samples: Path, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "show_config", "--docs")
    group = _group(run.out, "ConfigPynenc")
    app_id_row = next(i for i, line in enumerate(group) if line.startswith("  app_id "))
    assert (
        group[app_id_row + 1]
        == "      Name of the app; every key a backend stores is namespaced by it."
    )


def test_tasks_show_their_resolved_options(samples: Path, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "show_config", "--tasks")
    assert _row(run.out, "ConfigTask (task cli_sample_app.explode)", "max_retries") == [
        "max_retries",
        "2",
        "task decorator option 'max_retries' of 'cli_sample_app.explode'",
    ]


def test_an_unresolvable_component_is_reported_and_the_rest_still_shown(
    tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "pynenc.toml"
    config.write_text(mem_stack_toml(trigger_cls="NoSuchTrigger"))
    run = cli("--config", str(config), "show_config")
    assert run.code == 1
    assert _group(run.out, "trigger (trigger_cls = NoSuchTrigger)")[1].startswith(
        "  cannot show it: Unknown trigger_cls 'NoSuchTrigger'. Known: MemTrigger"
    )
    assert _row(run.out, "ConfigBroker", "broker_retrieve_timeout_seconds")[2] == "field default"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "none"),
        (True, "true"),
        ("", '""'),
        (ConcurrencyControlType.KEYS, "keys"),
        (frozenset({"b", "a"}), "[a, b]"),
        ((ValueError, KeyError), "[ValueError, KeyError]"),
        ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
        (2.5, "2.5"),
    ],
)
def test_values_are_written_as_a_config_file_would(value: object, shown: str) -> None:
    assert format_value(value) == shown
