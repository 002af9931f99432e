"""Specification of what a config says about itself: sources, descriptions, unknown keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pynenc.conf import (
    ConfigField,
    ConfigOrchestrator,
    ConfigPynenc,
    ConfigPynencBase,
    ConfigSource,
    ConfigSources,
    ConfigTask,
    parse_int,
)
from pynenc.conf.config_base import REDACTED
from pynenc.exceptions import ConfigValueError

LoadSources = Callable[..., ConfigSources]


class ConfigVault(ConfigPynencBase):
    section = "vault"
    vault_url = ConfigField("redis://localhost", secret=True, doc="Where secrets live.")
    vault_token = ConfigField("", secret=True)
    vault_port = ConfigField(1, parser=parse_int, secret=True)
    vault_name = ConfigField("main")


def test_source_of_a_default(load: LoadSources) -> None:
    assert ConfigOrchestrator(sources=load()).source_of("cycle_control") == ConfigSource(
        "default", "field default"
    )


def test_source_of_a_pyproject_value_names_file_and_table(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text("[tool.pynenc.orchestrator]\ncycle_control = false\n")
    source = ConfigOrchestrator(sources=load()).source_of("cycle_control")
    assert source.kind == "pyproject"
    assert str(source) == f"{project / 'pyproject.toml'} [tool.pynenc.orchestrator]"


def test_source_of_a_top_level_key_in_a_whole_document(project: Path, load: LoadSources) -> None:
    (project / "pynenc.toml").write_text('app_id = "x"\n')
    source = ConfigPynenc(sources=load()).source_of("app_id")
    assert (source.kind, str(source)) == ("pyproject", f"{project / 'pynenc.toml'} (top level)")


def test_source_of_a_config_file_value(project: Path, load: LoadSources) -> None:
    path = project / "settings.json"
    path.write_text(json.dumps({"app_id": "x"}))
    source = ConfigPynenc(sources=load(config_filepath=str(path))).source_of("app_id")
    assert (source.kind, source.location) == ("file", f"{path} (top level)")


def test_source_of_an_env_value(load: LoadSources) -> None:
    environ = {"PYNENC__CONFIGORCHESTRATOR__CYCLE_CONTROL": "false"}
    source = ConfigOrchestrator(sources=load(environ=environ)).source_of("cycle_control")
    assert (source.kind, str(source)) == ("env", "env PYNENC__CONFIGORCHESTRATOR__CYCLE_CONTROL")


def test_source_of_a_config_values_entry(load: LoadSources) -> None:
    source = ConfigOrchestrator(sources=load({"orchestrator": {"cycle_control": False}})).source_of(
        "cycle_control"
    )
    assert (source.kind, str(source)) == (
        "config_values",
        "config_values['orchestrator']['cycle_control']",
    )


def test_source_of_a_decorator_option(load: LoadSources) -> None:
    source = ConfigTask("mymodule.add", {"max_retries": 2}, sources=load()).source_of("max_retries")
    assert source.kind == "decorator"
    assert "mymodule.add" in str(source)


def test_source_of_an_unknown_field_is_an_error(load: LoadSources) -> None:
    with pytest.raises(Exception, match="nope"):
        ConfigPynenc(sources=load()).source_of("nope")


def test_describe_lists_every_field_with_value_source_and_doc(load: LoadSources) -> None:
    infos = ConfigOrchestrator(sources=load({"cycle_control": False})).describe()
    assert [info.name for info in infos] == list(ConfigOrchestrator.config_fields())
    first = infos[0]
    assert (first.name, first.value, first.source.kind) == ("cycle_control", False, "config_values")
    assert first.doc
    assert first.expected.startswith("a boolean")


def test_describe_redacts_secret_values_but_shows_empty_ones(load: LoadSources) -> None:
    infos = {info.name: info for info in ConfigVault(sources=load()).describe()}
    assert infos["vault_url"].value == REDACTED
    assert infos["vault_url"].secret is True
    assert infos["vault_port"].value == REDACTED
    assert infos["vault_token"].value == ""
    assert infos["vault_name"].value == "main"


def test_to_dict_redacts_secrets_unless_asked_not_to(load: LoadSources) -> None:
    config = ConfigVault(sources=load())
    assert config.to_dict()["vault_url"] == REDACTED
    assert config.to_dict(redact=False)["vault_url"] == "redis://localhost"
    assert config.vault_url == "redis://localhost"


def test_repr_does_not_show_secrets(load: LoadSources) -> None:
    assert "localhost" not in repr(ConfigVault(sources=load()))


def test_invalid_secret_value_is_not_shown_in_the_error(load: LoadSources) -> None:
    with pytest.raises(ConfigValueError) as error:
        ConfigVault(sources=load({"vault_port": "hunter2"}))
    assert "hunter2" not in str(error.value)
    assert "vault_port" in str(error.value)


def test_sources_record_the_files_they_read(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text('[tool.pynenc]\napp_id = "x"\n')
    path = project / "extra.toml"
    path.write_text("")
    sources = load(config_filepath=str(path))
    assert sources.files == (project / "pyproject.toml", path)
    assert sources.kinds == ("pyproject", "file", "env")


def test_unknown_keys_reports_keys_no_field_reads(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.pynenc]\napp_id = 'x'\ntypo_field = 1\n"
        "[tool.pynenc.orchestrator]\ncycle_contrl = false\n"
        "[tool.pynenc.task.'mymodule.add']\nmax_retries = 1\nmax_retry = 2\n"
    )
    environ = {"PYNENC__BROKER_CLS": "X", "PYNENC__NOT_A_FIELD": "1", "PYNENC__CONFIGNOPE__X": "1"}
    known = set(ConfigPynenc.config_fields()) | set(ConfigOrchestrator.config_fields())
    known |= set(ConfigTask.config_fields())
    unknown = load(environ=environ).unknown_keys(known)
    assert len(unknown) == 5
    assert any(entry.startswith("typo_field ") for entry in unknown)
    assert any(entry.startswith("orchestrator.cycle_contrl ") for entry in unknown)
    assert any("max_retry " in entry for entry in unknown)
    assert any("PYNENC__NOT_A_FIELD" in entry for entry in unknown)
    assert any("PYNENC__CONFIGNOPE__X" in entry for entry in unknown)


def test_unknown_keys_is_empty_when_every_key_is_known(load: LoadSources) -> None:
    sources = load({"app_id": "x", "orchestrator": {"cycle_control": True}})
    known = set(ConfigPynenc.config_fields()) | set(ConfigOrchestrator.config_fields())
    assert sources.unknown_keys(known) == []
