"""Specification of where values come from: layers, sections and their precedence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynenc.conf import (
    ConfigField,
    ConfigOrchestrator,
    ConfigPynenc,
    ConfigPynencBase,
    ConfigSources,
)

LoadSources = Callable[..., ConfigSources]


class ConfigAlpha(ConfigPynencBase):
    section = "alpha"
    level = ConfigField(1)


class ConfigBeta(ConfigAlpha):
    section = "beta"


class ConfigGamma(ConfigPynencBase):
    section = "gamma"
    level = ConfigField(1)


class ConfigBetaGamma(ConfigBeta, ConfigGamma):
    pass


def write_pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(body)
    return path


def test_defaults_apply_when_nothing_is_set(load: LoadSources) -> None:
    config = ConfigOrchestrator(sources=load())
    assert (config.cycle_control, config.blocking_control) == (True, True)
    assert config.source_of("cycle_control").kind == "default"


def test_pyproject_tool_pynenc_overrides_the_default(project: Path, load: LoadSources) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "from-pyproject"\n')
    assert ConfigPynenc(sources=load()).app_id == "from-pyproject"


def test_pyproject_is_found_from_a_nested_subdirectory(project: Path, load: LoadSources) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "root"\n')
    nested = project / "src" / "pkg" / "deep"
    nested.mkdir(parents=True)
    assert ConfigPynenc(sources=load(cwd=nested)).app_id == "root"


def test_pynenc_toml_is_preferred_to_pyproject_in_the_same_directory(
    project: Path, load: LoadSources
) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "pyproject"\n')
    (project / "pynenc.toml").write_text('app_id = "pynenc-toml"\n')
    assert ConfigPynenc(sources=load()).app_id == "pynenc-toml"


def test_pynenc_toml_uses_its_tool_pynenc_table_when_it_has_one(
    project: Path, load: LoadSources
) -> None:
    (project / "pynenc.toml").write_text('app_id = "top"\n[tool.pynenc]\napp_id = "table"\n')
    assert ConfigPynenc(sources=load()).app_id == "table"


def test_pynenc_yaml_is_a_project_file_too(project: Path, load: LoadSources) -> None:
    (project / "pynenc.yaml").write_text("app_id: from-yaml\n")
    assert ConfigPynenc(sources=load()).app_id == "from-yaml"


def test_first_pyproject_found_ends_the_search_even_without_pynenc_table(
    project: Path, load: LoadSources
) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "outer"\n')
    inner = project / "inner"
    inner.mkdir()
    write_pyproject(inner, '[project]\nname = "inner"\n')
    assert ConfigPynenc(sources=load(cwd=inner)).app_id == "pynenc"


def test_config_file_overrides_the_project_file(project: Path, load: LoadSources) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "pyproject"\n')
    config_file = project / "settings.toml"
    config_file.write_text('app_id = "config-file"\n')
    assert ConfigPynenc(sources=load(config_filepath=str(config_file))).app_id == "config-file"


def test_pynenc_filepath_env_names_the_config_file(project: Path, load: LoadSources) -> None:
    config_file = project / "settings.json"
    config_file.write_text(json.dumps({"app_id": "via-env-path"}))
    sources = load(environ={"PYNENC__FILEPATH": str(config_file)})
    assert ConfigPynenc(sources=sources).app_id == "via-env-path"


def test_relative_config_filepath_is_read_from_the_working_directory(
    project: Path, load: LoadSources
) -> None:
    (project / "conf").mkdir()
    (project / "conf" / "pynenc.json").write_text('{"app_id": "relative"}')
    assert ConfigPynenc(sources=load(config_filepath="conf/pynenc.json")).app_id == "relative"


def test_env_overrides_the_config_file(project: Path, load: LoadSources) -> None:
    config_file = project / "settings.toml"
    config_file.write_text('app_id = "config-file"\n')
    sources = load(config_filepath=str(config_file), environ={"PYNENC__APP_ID": "env"})
    assert ConfigPynenc(sources=sources).app_id == "env"


def test_config_values_override_env(load: LoadSources) -> None:
    sources = load({"app_id": "code"}, environ={"PYNENC__APP_ID": "env"})
    assert ConfigPynenc(sources=sources).app_id == "code"


def test_env_names_are_case_insensitive(load: LoadSources) -> None:
    sources = load(environ={"pynenc__configorchestrator__Cycle_Control": "false"})
    assert ConfigOrchestrator(sources=sources).cycle_control is False


def test_class_specific_env_beats_generic_env(load: LoadSources) -> None:
    environ = {
        "PYNENC__CYCLE_CONTROL": "true",
        "PYNENC__CONFIGORCHESTRATOR__CYCLE_CONTROL": "false",
    }
    assert ConfigOrchestrator(sources=load(environ=environ)).cycle_control is False


def test_class_section_beats_generic_key_in_the_same_file(project: Path, load: LoadSources) -> None:
    write_pyproject(
        project,
        "[tool.pynenc]\ncycle_control = true\n[tool.pynenc.orchestrator]\ncycle_control = false\n",
    )
    assert ConfigOrchestrator(sources=load()).cycle_control is False


def test_generic_key_applies_to_every_class_with_the_field(load: LoadSources) -> None:
    sources = load({"level": 4})
    assert ConfigAlpha(sources=sources).level == 4
    assert ConfigGamma(sources=sources).level == 4


def test_generic_key_of_a_higher_layer_beats_a_section_of_a_lower_layer(
    project: Path, load: LoadSources
) -> None:
    write_pyproject(project, "[tool.pynenc.orchestrator]\ncycle_control = false\n")
    config = ConfigOrchestrator(sources=load(environ={"PYNENC__CYCLE_CONTROL": "true"}))
    assert config.cycle_control is True
    assert config.source_of("cycle_control").location == "env PYNENC__CYCLE_CONTROL"


def test_lowercase_class_name_works_as_section(load: LoadSources) -> None:
    sources = load({"configorchestrator": {"blocking_control": False}})
    assert ConfigOrchestrator(sources=sources).blocking_control is False


def test_parent_section_applies_to_subclass(load: LoadSources) -> None:
    assert ConfigBeta(sources=load({"alpha": {"level": 5}})).level == 5


def test_parent_class_env_name_applies_to_subclass(load: LoadSources) -> None:
    assert ConfigBeta(sources=load(environ={"PYNENC__CONFIGALPHA__LEVEL": "6"})).level == 6


def test_subclass_section_beats_parent_section(load: LoadSources) -> None:
    sources = load({"alpha": {"level": 5}, "beta": {"level": 7}})
    assert ConfigBeta(sources=sources).level == 7
    assert ConfigAlpha(sources=sources).level == 5


def test_subclass_section_does_not_apply_to_parent(load: LoadSources) -> None:
    assert ConfigAlpha(sources=load({"beta": {"level": 7}})).level == 1


def test_closest_base_in_mro_wins_with_multiple_inheritance(load: LoadSources) -> None:
    sources = load({"alpha": {"level": 2}, "gamma": {"level": 3}})
    assert ConfigBetaGamma(sources=sources).level == 2
    assert ConfigBetaGamma(sources=load({"gamma": {"level": 3}})).level == 3


def test_sources_are_read_once_and_shared(project: Path, load: LoadSources) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "before"\n')
    sources = load()
    write_pyproject(project, '[tool.pynenc]\napp_id = "after"\n')
    assert ConfigPynenc(sources=sources).app_id == "before"
    assert ConfigOrchestrator(sources=sources).sources is sources


def test_config_values_given_with_sources_are_layered_on_top(load: LoadSources) -> None:
    sources = load({"app_id": "shared"}, environ={"PYNENC__CYCLE_CONTROL": "false"})
    config = ConfigPynenc({"app_id": "mine"}, sources=sources)
    assert config.app_id == "mine"
    assert ConfigOrchestrator({}, sources=sources).cycle_control is False


def test_without_sources_the_working_directory_and_environment_are_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pyproject(project, '[tool.pynenc]\napp_id = "cwd"\nbroker_cls = "FileBroker"\n')
    monkeypatch.chdir(project)
    monkeypatch.setenv("PYNENC__BROKER_CLS", "EnvBroker")
    config = ConfigPynenc({"runner_cls": "CodeRunner"})
    assert (config.app_id, config.broker_cls, config.runner_cls) == (
        "cwd",
        "EnvBroker",
        "CodeRunner",
    )


LAYERS = ("pyproject", "file", "env", "config_values")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    defined=st.dictionaries(
        st.sampled_from(LAYERS),
        st.tuples(st.booleans(), st.integers(min_value=0, max_value=999)),
    )
)
def test_highest_layer_defining_the_field_wins(
    project: Path, defined: dict[str, tuple[bool, int]]
) -> None:
    """Each layer sets ``level`` generically or in the ``alpha`` section, or not at all."""

    def document(layer: str) -> dict[str, Any]:
        if layer not in defined:
            return {}
        in_section, value = defined[layer]
        return {"alpha": {"level": value}} if in_section else {"level": value}

    write_pyproject(project, "[tool.pynenc]\n" + _toml_lines(document("pyproject")))
    config_file = project / "settings.json"
    config_file.write_text(json.dumps(document("file")))
    environ = {}
    if "env" in defined:
        in_section, value = defined["env"]
        environ["PYNENC__CONFIGALPHA__LEVEL" if in_section else "PYNENC__LEVEL"] = str(value)
    sources = ConfigSources.load(
        document("config_values"), str(config_file), cwd=project, environ=environ
    )
    config = ConfigAlpha(sources=sources)
    winner = next((layer for layer in reversed(LAYERS) if layer in defined), None)
    expected = defined[winner][1] if winner else 1
    assert config.level == expected
    assert config.source_of("level").kind == (winner or "default")


def _toml_lines(document: dict[str, Any]) -> str:
    if "alpha" in document:
        return f"alpha = {{ level = {document['alpha']['level']} }}\n"
    return "".join(f"{key} = {value}\n" for key, value in document.items())
