"""Specification of the reusable parsers: what each accepts, what it refuses."""

from __future__ import annotations

import json
from enum import Enum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynenc.conf import (
    bounded,
    enum_parser,
    one_of,
    optional,
    parse_bool,
    parse_exception_types,
    parse_float,
    parse_int,
    parse_optional_bool,
    parse_str,
    parse_str_dict,
    parse_str_set,
    parse_str_tuple,
)
from pynenc.exceptions import ConfigError, RetryError


class Colour(StrEnum):
    RED = "red"
    DARK_BLUE = "dark-blue"


class Size(Enum):
    SMALL = 1
    LARGE = 2


class NotAnError:
    pass


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("1", True),
        (" false ", False),
        ("no", False),
        ("OFF", False),
        ("0", False),
        (1, True),
        (0, False),
    ],
)
def test_bool_accepts_bools_and_boolean_words(raw: Any, expected: bool) -> None:
    assert parse_bool(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", "truthy", 2, -1, 1.0, None, [True]])
def test_bool_refuses_anything_else(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_bool(raw)


@pytest.mark.parametrize(
    ("raw", "expected"), [(7, 7), ("42", 42), (" -3 ", -3), ("1e3", 1000), (3.0, 3), ("4.0", 4)]
)
def test_int_accepts_integers_integral_strings_and_integral_floats(raw: Any, expected: int) -> None:
    assert parse_int(raw) == expected


@pytest.mark.parametrize("raw", [True, False, 1.5, "1.5", "ten", "", None, "inf"])
def test_int_refuses_bools_fractions_and_text(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_int(raw)


@given(st.integers())
def test_int_reads_back_any_integer_written_as_text(number: int) -> None:
    assert parse_int(str(number)) == number


@pytest.mark.parametrize(("raw", "expected"), [(2, 2.0), (0.25, 0.25), ("1.5", 1.5), (" 3 ", 3.0)])
def test_float_accepts_numbers_and_numeric_strings(raw: Any, expected: float) -> None:
    value = parse_float(raw)
    assert value == expected
    assert isinstance(value, float)


@pytest.mark.parametrize("raw", [True, "abc", "", None, "nan", "inf", float("inf")])
def test_float_refuses_bools_text_and_non_finite_values(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_float(raw)


@pytest.mark.parametrize("raw", [1, 1.0, True, None, ["a"]])
def test_str_refuses_non_strings(raw: Any) -> None:
    with pytest.raises(TypeError):
        parse_str(raw)


@pytest.mark.parametrize("raw", [Colour.RED, "red", "RED", "Red", " red "])
def test_enum_accepts_member_value_and_name_case_insensitively(raw: Any) -> None:
    assert enum_parser(Colour)(raw) is Colour.RED


def test_enum_matches_a_value_that_differs_from_the_name() -> None:
    parser = enum_parser(Colour)
    assert parser("dark-blue") is Colour.DARK_BLUE
    assert parser("DARK_BLUE") is Colour.DARK_BLUE


def test_enum_with_non_string_values_accepts_values_and_names() -> None:
    parser = enum_parser(Size)
    assert parser(2) is Size.LARGE
    assert parser("small") is Size.SMALL


@pytest.mark.parametrize("raw", ["green", "", 3, True])
def test_enum_refuses_unknown_members(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        enum_parser(Colour)(raw)


def test_enum_expected_description_lists_the_choices() -> None:
    assert enum_parser(Colour).expected == "one of red, dark-blue"


@pytest.mark.parametrize("raw", [None, "", "none", "NULL"])
def test_optional_reads_none_words_as_none(raw: Any) -> None:
    assert optional(parse_int)(raw) is None


def test_optional_delegates_other_values_and_describes_both() -> None:
    parser = optional(parse_int)
    assert parser("5") == 5
    assert parser.expected == "an integer, or none"
    with pytest.raises(ValueError):
        parser("five")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("auto", None), ("AUTO", None), ("on", True), (False, False)],
)
def test_optional_bool_reads_auto_as_none(raw: Any, expected: bool | None) -> None:
    assert parse_optional_bool(raw) is expected


def test_optional_bool_refuses_other_words() -> None:
    with pytest.raises(ValueError):
        parse_optional_bool("maybe")


@pytest.mark.parametrize(
    "raw",
    [["a", "b"], ("b", "a"), {"a", "b"}, '["a", "b"]', "a,b", " a , b ,", frozenset({"a", "b"})],
)
def test_str_set_accepts_collections_json_arrays_and_comma_lists(raw: Any) -> None:
    assert parse_str_set(raw) == frozenset({"a", "b"})


def test_str_set_of_empty_string_is_empty() -> None:
    assert parse_str_set("") == frozenset()


@pytest.mark.parametrize("raw", [[1, "a"], "[1, 2]", '["a", {}]', 5, None, "[not json"])
def test_str_set_refuses_non_string_items_and_other_types(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_str_set(raw)


def test_str_tuple_keeps_order_and_drops_duplicates() -> None:
    assert parse_str_tuple("user_id, tenant, user_id") == ("user_id", "tenant")
    assert parse_str_tuple(["z", "a"]) == ("z", "a")
    assert parse_str_tuple('["z", "a"]') == ("z", "a")


@pytest.mark.parametrize("raw", [{"host": "h", "port": 1}, '{"host": "h", "port": 1}'])
def test_str_dict_accepts_mappings_and_json_objects(raw: Any) -> None:
    assert parse_str_dict(raw) == {"host": "h", "port": 1}


@pytest.mark.parametrize("raw", ["[1]", {1: "a"}, ["a"], "{bad"])
def test_str_dict_refuses_non_objects_and_non_string_keys(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_str_dict(raw)


def test_str_dict_returns_a_copy() -> None:
    original = {"a": 1}
    parsed = parse_str_dict(original)
    parsed["b"] = 2
    assert original == {"a": 1}


def test_exception_types_accepts_classes() -> None:
    assert parse_exception_types((ConnectionError, KeyError)) == (ConnectionError, KeyError)
    assert parse_exception_types(ValueError) == (ValueError,)


def test_exception_types_resolves_builtin_names() -> None:
    assert parse_exception_types("ConnectionError") == (ConnectionError,)


def test_exception_types_resolves_bare_pynenc_exception_names() -> None:
    assert parse_exception_types("RetryError") == (RetryError,)


@pytest.mark.parametrize("name", ["pynenc.exceptions:ConfigError", "pynenc.exceptions.ConfigError"])
def test_exception_types_imports_module_qualified_names(name: str) -> None:
    assert parse_exception_types([name]) == (ConfigError,)


def test_exception_types_reads_comma_lists_and_json_arrays() -> None:
    expected = (ConnectionError, TimeoutError)
    assert parse_exception_types("ConnectionError, TimeoutError") == expected
    assert parse_exception_types(json.dumps(["ConnectionError", "TimeoutError"])) == expected


def test_exception_types_mixes_classes_and_names_without_duplicates() -> None:
    assert parse_exception_types([KeyError, "KeyError", "builtins:OSError"]) == (KeyError, OSError)


@pytest.mark.parametrize(
    "raw",
    [
        "int",
        "builtins:len",
        [NotAnError],
        "KeyboardInterrupt",
        "NoSuchError",
        "no_such_module_xyz:Error",
        "pynenc.exceptions:NoSuchError",
        "no_such_package_xyz.errors.Error",
        [42],
        42,
    ],
)
def test_exception_types_refuses_what_is_not_an_exception_class(raw: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_exception_types(raw)


def test_bounded_refuses_values_out_of_range_and_describes_the_range() -> None:
    parser = bounded(parse_float, gt=0, le=1)
    assert parser("1") == 1.0
    assert parser.expected == "a number > 0 and <= 1"
    for raw in (0, 1.01, "-1"):
        with pytest.raises(ValueError):
            parser(raw)


def test_one_of_matches_case_insensitively_and_returns_the_declared_choice() -> None:
    parser = one_of("stderr", "stdout")
    assert parser("STDOUT") == "stdout"
    with pytest.raises(ValueError):
        parser("stdfile")
