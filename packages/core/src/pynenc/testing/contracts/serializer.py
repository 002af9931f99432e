"""The serializer contract: every documented value type round-trips to an equal value of the same
type, exceptions keep their type and arguments, and what cannot be serialized is a clear error."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynenc.app import Pynenc
from pynenc.exceptions import SerializationError
from pynenc.testing import tasks
from pynenc.testing.harness import ConformanceTests

JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _round_trip(app: Pynenc, value: Any) -> Any:
    serialized = app.serializer.serialize(value)
    assert isinstance(serialized, str), "a serializer produces strings"
    return app.serializer.deserialize(serialized)


class SerializerContract(ConformanceTests):
    """Round trips of ``serializer_cls``."""

    contract = "serializer"

    @pytest.mark.parametrize("name", sorted(tasks.SERIALIZABLE_VALUES))
    def test_documented_values_round_trip(self, app: Pynenc, name: str) -> None:
        value = tasks.SERIALIZABLE_VALUES[name]
        loaded = _round_trip(app, value)
        assert loaded == value
        assert type(loaded) is type(value)

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(value=JSON_LIKE)
    def test_nested_json_like_values_round_trip(self, app: Pynenc, value: Any) -> None:
        assert _round_trip(app, value) == value

    def test_special_floats_round_trip(self, app: Pynenc) -> None:
        assert math.isnan(_round_trip(app, math.nan))
        assert _round_trip(app, [math.inf, -math.inf]) == [math.inf, -math.inf]

    def test_an_exception_keeps_its_type_and_arguments(self, app: Pynenc) -> None:
        loaded = _round_trip(app, tasks.ConformanceTaskError("boom", 3))
        assert type(loaded) is tasks.ConformanceTaskError
        assert loaded.args == ("boom", 3)

    def test_a_builtin_exception_keeps_its_type(self, app: Pynenc) -> None:
        loaded = _round_trip(app, ValueError("bad value"))
        assert type(loaded) is ValueError and loaded.args == ("bad value",)

    def test_a_value_it_cannot_serialize_is_a_serialization_error(self, app: Pynenc) -> None:
        with pytest.raises(SerializationError):
            app.serializer.serialize(threading.Lock())

    def test_data_it_did_not_produce_is_a_serialization_error(self, app: Pynenc) -> None:
        with pytest.raises(SerializationError):
            app.serializer.deserialize("\x00 not serialized data {")
