"""Specification of config files: formats, and errors that name the file and the problem."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pynenc.conf import ConfigOrchestrator, ConfigPynenc, ConfigSources
from pynenc.exceptions import ConfigFileError, ConfigValueError

LoadSources = Callable[..., ConfigSources]

SAME_SETTINGS = {
    "settings.toml": 'app_id = "from-file"\n[orchestrator]\ncycle_control = false\n',
    "settings.json": json.dumps({"app_id": "from-file", "orchestrator": {"cycle_control": False}}),
    "settings.yaml": "app_id: from-file\norchestrator:\n  cycle_control: false\n",
    "settings.yml": "app_id: from-file\norchestrator:\n  cycle_control: off\n",
}


@pytest.mark.parametrize(("name", "body"), SAME_SETTINGS.items())
def test_toml_json_and_yaml_files_are_read_alike(
    project: Path, load: LoadSources, name: str, body: str
) -> None:
    path = project / name
    path.write_text(body)
    sources = load(config_filepath=str(path))
    assert ConfigPynenc(sources=sources).app_id == "from-file"
    assert ConfigOrchestrator(sources=sources).cycle_control is False


def test_config_file_with_tool_pynenc_uses_that_table(project: Path, load: LoadSources) -> None:
    path = project / "settings.json"
    path.write_text(json.dumps({"app_id": "ignored", "tool": {"pynenc": {"app_id": "table"}}}))
    assert ConfigPynenc(sources=load(config_filepath=str(path))).app_id == "table"


@pytest.mark.parametrize(
    ("name", "body", "format_name"),
    [
        ("broken.toml", "app_id = \n", "TOML"),
        ("broken.json", '{"app_id": ', "JSON"),
        ("broken.yaml", "app_id: [unclosed\n", "YAML"),
    ],
)
def test_unparsable_file_raises_config_file_error_naming_the_file(
    project: Path, load: LoadSources, name: str, body: str, format_name: str
) -> None:
    path = project / name
    path.write_text(body)
    with pytest.raises(ConfigFileError, match=format_name) as error:
        load(config_filepath=str(path))
    assert str(path) in str(error.value)


def test_broken_pyproject_found_by_the_search_raises_config_file_error(
    project: Path, load: LoadSources
) -> None:
    (project / "pyproject.toml").write_text("[tool.pynenc\n")
    with pytest.raises(ConfigFileError, match=r"pyproject\.toml"):
        load()


def test_missing_config_file_raises_config_file_error(project: Path, load: LoadSources) -> None:
    missing = project / "nope.toml"
    with pytest.raises(ConfigFileError, match="does not exist") as error:
        load(config_filepath=str(missing))
    assert str(missing) in str(error.value)


def test_top_level_that_is_not_a_mapping_is_refused(project: Path, load: LoadSources) -> None:
    path = project / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigFileError, match="mapping"):
        load(config_filepath=str(path))


def test_tool_pynenc_that_is_not_a_table_is_refused(project: Path, load: LoadSources) -> None:
    path = project / "settings.json"
    path.write_text(json.dumps({"tool": {"pynenc": "oops"}}))
    with pytest.raises(ConfigFileError, match=r"\[tool.pynenc\]"):
        load(config_filepath=str(path))


def test_unsupported_extension_is_refused(project: Path, load: LoadSources) -> None:
    path = project / "settings.ini"
    path.write_text("[pynenc]\n")
    with pytest.raises(ConfigFileError, match=r"\.toml, \.json, \.yaml"):
        load(config_filepath=str(path))


def test_yaml_without_pyyaml_tells_how_to_install_it(
    project: Path, load: LoadSources, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "settings.yaml"
    path.write_text("app_id: x\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ConfigFileError, match=r"pip install 'pynenc-core\[yaml\]'"):
        load(config_filepath=str(path))


def test_empty_yaml_file_holds_no_settings(project: Path, load: LoadSources) -> None:
    path = project / "empty.yaml"
    path.write_text("")
    assert ConfigPynenc(sources=load(config_filepath=str(path))).app_id == "pynenc"


def test_wrong_type_in_a_file_names_field_file_and_expected_type(
    project: Path, load: LoadSources
) -> None:
    (project / "pyproject.toml").write_text('[tool.pynenc.orchestrator]\ncycle_control = "maybe"\n')
    with pytest.raises(ConfigValueError) as error:
        ConfigOrchestrator(sources=load())
    message = str(error.value)
    assert "cycle_control" in message
    assert str(project / "pyproject.toml") in message
    assert "[tool.pynenc.orchestrator]" in message
    assert "a boolean" in message
    assert (error.value.field, error.value.value) == ("cycle_control", "maybe")


def test_wrong_value_in_env_names_the_variable(load: LoadSources) -> None:
    with pytest.raises(ConfigValueError, match="env PYNENC__TRUNCATE_ARGUMENTS_LENGTH") as error:
        ConfigPynenc(sources=load(environ={"PYNENC__TRUNCATE_ARGUMENTS_LENGTH": "-1"}))
    assert "an integer >= 0" in str(error.value)
