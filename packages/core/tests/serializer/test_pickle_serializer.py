"""PickleSerializer: opt-in, warns about its risk, reports what cannot be pickled."""

from __future__ import annotations

import base64
import dataclasses
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from pynenc.exceptions import SerializationError
from pynenc.serializer import pickle_serializer
from pynenc.serializer.pickle_serializer import PickleSecurityWarning, PickleSerializer


class Plain:
    """An arbitrary class JSON cannot hold."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plain) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclasses.dataclass
class Record:
    items: list[Plain]


@pytest.fixture
def serializer() -> PickleSerializer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleSecurityWarning)
        return PickleSerializer()


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend no PickleSerializer has been built in this process yet."""
    monkeypatch.setattr(pickle_serializer, "_warned", False)
    yield


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"a": (1, 2), 3: {4, 5}},
        Plain(7),
        Record([Plain(1), Plain(2)]),
        {frozenset({Plain(1)}): b"bytes"},
        ValueError("boom", 1),
    ],
    ids=["none", "builtins", "plain object", "dataclass", "object keys", "exception"],
)
def test_value_round_trips(serializer: PickleSerializer, value: Any) -> None:
    result = serializer.deserialize(serializer.serialize(value))

    assert type(result) is type(value)
    if isinstance(value, BaseException):
        assert result.args == value.args
    else:
        assert result == value


def test_output_is_base64_text(serializer: PickleSerializer) -> None:
    data = serializer.serialize({"x": 1})

    assert isinstance(data, str)
    assert base64.b64encode(base64.b64decode(data, validate=True)).decode() == data


@pytest.mark.usefixtures("fresh_process")
def test_first_construction_warns_that_pickle_runs_code_from_data() -> None:
    with pytest.warns(PickleSecurityWarning, match="trusted backend"):
        PickleSerializer()


@pytest.mark.usefixtures("fresh_process")
def test_warning_is_emitted_once_per_process() -> None:
    with pytest.warns(PickleSecurityWarning):
        PickleSerializer()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PickleSerializer()


def test_security_warning_is_a_user_warning() -> None:
    assert issubclass(PickleSecurityWarning, UserWarning)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (threading.Lock(), "_thread.lock"),
        (lambda: None, "function"),
        ({"nested": [threading.Lock()]}, "dict"),
    ],
    ids=["lock", "lambda", "nested"],
)
def test_unpicklable_value_error_names_its_type(
    serializer: PickleSerializer, value: Any, type_name: str
) -> None:
    with pytest.raises(SerializationError, match=f"Cannot pickle value of type '{type_name}'"):
        serializer.serialize(value)


@pytest.mark.parametrize("data", ["not base64!", "", base64.b64encode(b"garbage").decode()])
def test_malformed_data_raises_serialization_error(serializer: PickleSerializer, data: str) -> None:
    with pytest.raises(SerializationError):
        serializer.deserialize(data)
