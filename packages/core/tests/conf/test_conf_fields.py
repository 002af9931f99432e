"""Specification of ConfigField and the ConfigPynencBase object model."""

from __future__ import annotations

import pickle
from enum import StrEnum
from typing import Any

import pytest

from pynenc.conf import (
    ConfigField,
    ConfigPynencBase,
    ConfigSources,
    parse_float,
    parse_str_dict,
)
from pynenc.exceptions import ConfigError


class Mode(StrEnum):
    FAST = "fast"
    SAFE = "safe"


class ConfigInferred(ConfigPynencBase):
    section = "inferred"
    flag = ConfigField(False)
    count = ConfigField(3)
    ratio = ConfigField(0.5)
    label = ConfigField("x")
    mode = ConfigField(Mode.SAFE)
    tags = ConfigField(frozenset[str]())
    options = ConfigField[dict[str, Any]]({}, parser=parse_str_dict)


class ConfigParent(ConfigPynencBase):
    section = "parent"
    first = ConfigField(1)
    second = ConfigField(2)


class ConfigChild(ConfigParent):
    section = "child"
    third = ConfigField(3)
    first = ConfigField(10)


class ConfigOther(ConfigPynencBase):
    section = "other"
    other = ConfigField("o")
    second = ConfigField(20)


class ConfigCombined(ConfigChild, ConfigOther):
    pass


def values(**config_values: Any) -> ConfigSources:
    return ConfigSources.from_values(config_values)


def test_class_access_returns_the_field() -> None:
    field = ConfigInferred.count
    assert isinstance(field, ConfigField)
    assert field.name == "count"
    assert field.default == 3


def test_instance_access_returns_the_resolved_value() -> None:
    assert ConfigInferred(sources=values(count="7")).count == 7


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("flag", "yes", True),
        ("count", "12", 12),
        ("ratio", "2", 2.0),
        ("label", "y", "y"),
        ("mode", "FAST", Mode.FAST),
        ("tags", "a,b", frozenset({"a", "b"})),
        ("options", '{"k": 1}', {"k": 1}),
    ],
)
def test_parser_is_inferred_from_the_default_type(name: str, raw: str, expected: Any) -> None:
    assert getattr(ConfigInferred(sources=values(**{name: raw})), name) == expected


def test_field_without_inferable_default_needs_a_parser() -> None:
    with pytest.raises(TypeError, match="parser"):
        ConfigField(None)


def test_default_the_parser_refuses_is_rejected_at_declaration() -> None:
    with pytest.raises(TypeError, match="default"):
        ConfigField("fast", parser=parse_float)  # type: ignore[arg-type]


def test_expected_description_comes_from_the_parser() -> None:
    assert ConfigInferred.count.expected == "an integer"
    assert ConfigInferred.mode.expected == "one of fast, safe"


def test_config_fields_lists_inherited_fields_in_declaration_order() -> None:
    assert list(ConfigChild.config_fields()) == ["first", "second", "third"]


def test_subclass_redeclaring_a_field_changes_its_default() -> None:
    assert ConfigChild.config_fields()["first"].default == 10
    assert ConfigChild(sources=values()).first == 10
    assert ConfigParent(sources=values()).first == 1


def test_multiple_inheritance_combines_the_fields_of_all_bases() -> None:
    assert set(ConfigCombined.config_fields()) == {"first", "second", "third", "other"}


def test_multiple_inheritance_takes_a_shared_field_from_the_first_base() -> None:
    assert ConfigCombined(sources=values()).second == 2


def test_fields_are_read_only() -> None:
    config = ConfigParent(sources=values())
    with pytest.raises(AttributeError, match="with_overrides"):
        config.first = 5


def test_with_overrides_returns_a_changed_copy() -> None:
    config = ConfigParent(sources=values())
    changed = config.with_overrides(first="5")
    assert (changed.first, config.first) == (5, 1)
    assert type(changed) is ConfigParent
    assert changed.source_of("first").kind == "config_values"
    assert config.source_of("first").kind == "default"


def test_with_overrides_refuses_unknown_fields() -> None:
    with pytest.raises(ConfigError, match="no_such_field"):
        ConfigParent(sources=values()).with_overrides(no_such_field=1)


def test_mutable_defaults_are_not_shared_between_configs() -> None:
    first = ConfigInferred(sources=values())
    first.options["k"] = 1
    assert ConfigInferred(sources=values()).options == {}


def test_config_objects_survive_pickling() -> None:
    config = ConfigChild(sources=values(third=33))
    restored = pickle.loads(pickle.dumps(config))
    assert restored.to_dict() == config.to_dict()
    assert restored.source_of("third") == config.source_of("third")
