"""Specification of JsonSerializer: exact round-trips, a safe decoder, and helpful errors."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import subprocess
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynenc.exceptions import SerializationError
from pynenc.serializer.json_serializer import (
    TAG,
    JsonSerializer,
    UnknownRemoteException,
)

MODULE = __name__
NOT_IMPORTED = "antigravity"  # a real stdlib module whose import has a visible side effect


# --- types the tests serialize ------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = (0, 255, 0)


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass(frozen=True)
class FrozenPoint:
    x: float
    label: str


@dataclasses.dataclass
class WithDerived:
    base: int
    derived: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.derived = self.base * 2


@dataclasses.dataclass
class Rich:
    tags: frozenset[str]
    origin: Point
    color: Color
    when: datetime
    pairs: dict[tuple[int, int], bytes]


class Outer:
    @dataclasses.dataclass
    class Inner:
        value: tuple[int, ...]

    class Level(enum.Enum):
        ONE = 1


class NotSerializable:
    pass


class CustomError(Exception):
    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.details = {"retry": True, "ids": (1, 2)}


class SignatureError(Exception):
    """Its __init__ cannot be called with its own args."""

    def __init__(self, field: str, value: int) -> None:
        self.field = field
        self.value = value
        super().__init__(f"bad {field}={value}")


class WeirdTz(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "WEIRD"


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def serializer() -> JsonSerializer:
    return JsonSerializer()


def canonical(value: Any) -> Any:
    """A comparable form that tells apart types equality ignores (1/True/1.0, tuple/list...)."""
    cls = type(value)
    if cls is int:
        return ("int", hex(value))
    if cls in (list, tuple):
        return (cls.__name__, [canonical(v) for v in value])
    if cls is dict:
        return ("dict", [(canonical(k), canonical(v)) for k, v in value.items()])
    if cls in (set, frozenset):
        return (cls.__name__, sorted((canonical(v) for v in value), key=repr))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [(f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value)]
        return (cls.__qualname__, fields)
    if isinstance(value, BaseException):
        attrs = {k: v for k, v in vars(value).items() if k != "__pynenc_traceback__"}
        return (cls.__qualname__, canonical(value.args), canonical(attrs))
    return (f"{cls.__module__}.{cls.__qualname__}", repr(value))


def roundtrip(serializer: JsonSerializer, value: Any) -> Any:
    return serializer.deserialize(serializer.serialize(value))


def payload(tag: str, module: str, qualname: str, **extra: Any) -> str:
    return json.dumps({TAG: tag, "m": module, "q": qualname, **extra})


def exception_payload(module: str, qualname: str, *args: Any) -> str:
    return payload("exception", module, qualname, args=list(args), msg=" ".join(map(str, args)))


@pytest.fixture
def vanishing_module() -> Iterator[types.ModuleType]:
    """A module the sender has imported and the receiver, once it is removed, has not."""
    module = types.ModuleType("pynenc_test_tasks")
    exec(
        "class TaskFailed(Exception):\n"
        "    def __init__(self, msg, n):\n"
        "        super().__init__(msg, n)\n"
        "        self.n = n\n",
        module.__dict__,
    )
    module.TaskFailed.__module__ = module.__name__
    sys.modules[module.__name__] = module
    yield module
    sys.modules.pop(module.__name__, None)


# --- round-trips --------------------------------------------------------------------------

ROUND_TRIP_CASES: dict[str, Any] = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "negative int": -17,
    "int beyond 64 bits": 2**64 + 1,
    "negative big int": -(2**200),
    "int too long for decimal text": 7**20_000,
    "float": 1.25,
    "negative zero": -0.0,
    "inf": math.inf,
    "negative inf": -math.inf,
    "empty str": "",
    "unicode str": "héllo ✓ 世界",
    "empty list": [],
    "list of natives": [1, "a", None, 2.5, False],
    "empty dict": {},
    "dict of natives": {"a": 1, "b": [True, None]},
    "dict with int keys": {1: "a", 2: "b"},
    "dict with tuple keys": {(1, 2): "b", (3, "x"): [4]},
    "dict with mixed keys": {None: 1, 2.5: 2, frozenset({1}): 3, "s": 4},
    "empty tuple": (),
    "one-tuple": (1,),
    "nested tuples": ((1, (2, 3)), [4, (5,)]),
    "empty set": set(),
    "set": {1, "a", (2, 3)},
    "frozenset": frozenset({1, 2}),
    "set of frozensets": {frozenset({1}), frozenset({2, 3})},
    "bytes": b"\x00\xffabc",
    "empty bytes": b"",
    "bytearray": bytearray(b"\x01\x02"),
    "naive datetime": datetime(2024, 2, 29, 23, 59, 58, 123456),
    "utc datetime": datetime(2024, 1, 1, tzinfo=UTC),
    "offset datetime": datetime(2024, 1, 1, 8, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    "named offset datetime": datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1), "CET")),
    "zoneinfo datetime": datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Madrid")),
    "ambiguous datetime fold=1": datetime(
        2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Madrid"), fold=1
    ),
    "date": date(1999, 12, 31),
    "time": time(13, 45, 1, 7),
    "aware time": time(8, 0, tzinfo=UTC),
    "timedelta": timedelta(days=-3, seconds=5, microseconds=7),
    "decimal": Decimal("3.1400"),
    "decimal exponent": Decimal("-1.5E+10"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "complex": complex(1.5, -2),
    "enum": Color.RED,
    "enum with tuple value": Color.GREEN,
    "int enum": Priority.HIGH,
    "str enum": Mode.FAST,
    "composite flag": Perm.R | Perm.W,
    "nested enum": Outer.Level.ONE,
    "dataclass": Point(1, 2),
    "frozen dataclass": FrozenPoint(0.5, "a"),
    "dataclass with init=False field": WithDerived(3),
    "nested dataclass": Outer.Inner((1, 2, 3)),
    "dataclass of rich fields": Rich(
        tags=frozenset({"a", "b"}),
        origin=Point(0),
        color=Color.GREEN,
        when=datetime(2020, 5, 17, tzinfo=ZoneInfo("UTC")),
        pairs={(1, 2): b"x"},
    ),
    "deeply nested mix": {
        "k": [(1, {2, 3}), {"x": b"y", "p": Point(1)}],
        "when": [date(2020, 1, 1), timedelta(0)],
        "keys": {(1, "a"): frozenset({(2, 3)}), Priority.LOW: Decimal("0.1")},
    },
}


@pytest.mark.parametrize("value", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_value_round_trips_with_its_exact_type(serializer: JsonSerializer, value: Any) -> None:
    result = roundtrip(serializer, value)

    assert type(result) is type(value)
    assert result == value
    assert canonical(result) == canonical(value)


def test_nan_round_trips_as_nan(serializer: JsonSerializer) -> None:
    result = roundtrip(serializer, [math.nan])

    assert type(result[0]) is float
    assert math.isnan(result[0])


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo")),
    ],
    ids=["utc", "zoneinfo"],
)
def test_datetime_keeps_its_tzinfo_object(serializer: JsonSerializer, value: datetime) -> None:
    result = roundtrip(serializer, value)

    assert result.tzinfo == value.tzinfo
    assert type(result.tzinfo) is type(value.tzinfo)


def test_init_false_field_keeps_its_stored_value(serializer: JsonSerializer) -> None:
    value = WithDerived(3)
    value.derived = 100

    assert roundtrip(serializer, value).derived == 100


def test_dict_order_is_preserved(serializer: JsonSerializer) -> None:
    value = {"z": 1, "a": 2, 3: "x", (0,): "y"}

    assert list(roundtrip(serializer, value)) == list(value)


# --- the wire format ----------------------------------------------------------------------


def test_output_is_compact_json_without_ascii_escaping(
    serializer: JsonSerializer,
) -> None:
    assert serializer.serialize({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'


def test_non_json_types_are_tagged_objects(serializer: JsonSerializer) -> None:
    assert json.loads(serializer.serialize((1, 2))) == {TAG: "tuple", "v": [1, 2]}


def test_output_is_strict_json_even_for_nan_and_infinity(
    serializer: JsonSerializer,
) -> None:
    def reject(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    json.loads(serializer.serialize([math.nan, math.inf, -math.inf]), parse_constant=reject)


def test_sets_are_written_in_a_stable_order(serializer: JsonSerializer) -> None:
    assert json.loads(serializer.serialize({"c", "a", "b"}))["v"] == ["a", "b", "c"]


def test_set_encoding_does_not_depend_on_hash_seed() -> None:
    script = (
        "from pynenc.serializer.json_serializer import JsonSerializer;"
        "print(JsonSerializer().serialize({'alpha', 'beta', 'gamma', 'delta', ('x', 1)}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={
                **os.environ,
                "PYTHONHASHSEED": seed,
                "PYTHONPATH": os.pathsep.join(sys.path),
            },
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }

    assert len(outputs) == 1


@pytest.mark.parametrize(
    "value",
    [
        {TAG: "tuple", "v": [1]},
        {TAG: 1},
        {"outer": {TAG: "exception", "m": "os", "q": "system", "args": []}},
        [{TAG: None, "x": (1,)}],
    ],
    ids=["lookalike tag", "reserved key only", "nested lookalike", "in list"],
)
def test_user_dict_with_reserved_key_round_trips(serializer: JsonSerializer, value: Any) -> None:
    assert canonical(roundtrip(serializer, value)) == canonical(value)


def test_dataclass_field_named_like_reserved_key_round_trips(
    serializer: JsonSerializer,
) -> None:
    cls = dataclasses.make_dataclass("Escaped", [(TAG, int)])
    cls.__module__ = MODULE
    globals()["Escaped"] = cls
    try:
        value = cls(**{TAG: 5})
        assert roundtrip(serializer, value) == value
    finally:
        del globals()["Escaped"]


# --- property: arbitrary nested values ----------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.sampled_from([TAG, "v"])
)
_hashables = st.recursive(
    _scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text() | st.just(TAG), inner, max_size=4)
        | st.dictionaries(_hashables, inner, max_size=4)
        | st.sets(_hashables, max_size=4)
        | st.frozensets(_hashables, max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
def test_any_nested_value_round_trips(value: Any) -> None:
    serializer = JsonSerializer()

    assert canonical(roundtrip(serializer, value)) == canonical(value)


@given(_values)
def test_equal_values_serialize_identically(value: Any) -> None:
    serializer = JsonSerializer()

    assert serializer.serialize(value) == serializer.serialize(roundtrip(serializer, value))


# --- exceptions ---------------------------------------------------------------------------

BUILTIN_EXCEPTIONS: dict[str, Exception] = {
    "ValueError": ValueError("bad value", 3),
    "KeyError": KeyError("missing"),
    "no args": RuntimeError(),
    "OSError subclass": FileNotFoundError(2, "No such file", "data.txt"),
    "UnicodeDecodeError": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    "StopIteration": StopIteration(5),
    "ImportError with name": ImportError("no module", name="mod", path="/x/mod.py"),
    "AttributeError with name": AttributeError("no attribute", name="attr"),
    "pynenc error": SerializationError("nested"),
}


@pytest.mark.parametrize("exc", BUILTIN_EXCEPTIONS.values(), ids=BUILTIN_EXCEPTIONS.keys())
def test_builtin_exception_round_trips(serializer: JsonSerializer, exc: Exception) -> None:
    result = roundtrip(serializer, exc)

    assert type(result) is type(exc)
    assert result.args == exc.args
    assert str(result) == str(exc)
    for name in ("filename", "filename2", "name", "path"):
        assert getattr(result, name, None) == getattr(exc, name, None)


def test_custom_exception_keeps_extra_attributes(serializer: JsonSerializer) -> None:
    exc = CustomError("failed", code=42)
    exc.details["ids"] = (7, 8)

    result = roundtrip(serializer, exc)

    assert type(result) is CustomError
    assert result.args == ("failed",)
    assert result.code == 42
    assert result.details == {"retry": True, "ids": (7, 8)}


def test_exception_with_incompatible_init_is_rebuilt_without_calling_it(
    serializer: JsonSerializer,
) -> None:
    result = roundtrip(serializer, SignatureError("size", 3))

    assert type(result) is SignatureError
    assert result.args == ("bad size=3",)
    assert (result.field, result.value) == ("size", 3)


def test_exception_notes_are_kept(serializer: JsonSerializer) -> None:
    exc = ValueError("x")
    exc.add_note("while loading config")

    assert roundtrip(serializer, exc).__notes__ == ["while loading config"]


def test_raised_exception_carries_its_traceback_text(
    serializer: JsonSerializer,
) -> None:
    def failing_task() -> None:
        raise CustomError("boom")

    try:
        failing_task()
    except CustomError as exc:
        result = roundtrip(serializer, exc)

    assert isinstance(result.__pynenc_traceback__, str)
    assert "failing_task" in result.__pynenc_traceback__
    assert "CustomError: boom" in result.__pynenc_traceback__


def test_traceback_text_survives_a_second_round_trip(
    serializer: JsonSerializer,
) -> None:
    try:
        raise ValueError("first hop")
    except ValueError as exc:
        once = roundtrip(serializer, exc)

    assert roundtrip(serializer, once).__pynenc_traceback__ == once.__pynenc_traceback__


def test_exception_never_raised_has_no_traceback_attribute(
    serializer: JsonSerializer,
) -> None:
    assert not hasattr(roundtrip(serializer, ValueError("x")), "__pynenc_traceback__")


def test_non_serializable_exception_args_are_kept_as_repr(
    serializer: JsonSerializer,
) -> None:
    result = roundtrip(serializer, ValueError("bad", NotSerializable))

    assert result.args == ("bad", repr(NotSerializable))


def test_non_serializable_exception_attributes_are_dropped(
    serializer: JsonSerializer,
) -> None:
    exc = CustomError("x", code=1)
    exc.lock = threading.Lock()  # type: ignore[attr-defined]

    result = roundtrip(serializer, exc)

    assert result.code == 1
    assert not hasattr(result, "lock")


def test_unknown_exception_class_falls_back_to_unknown_remote_exception(
    serializer: JsonSerializer, vanishing_module: types.ModuleType
) -> None:
    data = serializer.serialize(vanishing_module.TaskFailed("disk full", 3))
    del sys.modules[vanishing_module.__name__]

    result = serializer.deserialize(data)

    assert type(result) is UnknownRemoteException
    assert result.original_type == "pynenc_test_tasks.TaskFailed"
    assert result.args == ("disk full", 3)
    assert result.message == "('disk full', 3)"
    assert str(result) == "pynenc_test_tasks.TaskFailed: ('disk full', 3)"


def test_exception_of_unimported_module_is_not_imported(
    serializer: JsonSerializer,
) -> None:
    assert NOT_IMPORTED not in sys.modules

    result = serializer.deserialize(exception_payload(NOT_IMPORTED, "Boom", "x"))

    assert isinstance(result, UnknownRemoteException)
    assert result.original_type == f"{NOT_IMPORTED}.Boom"
    assert NOT_IMPORTED not in sys.modules


def test_unknown_remote_exception_round_trips(serializer: JsonSerializer) -> None:
    exc = UnknownRemoteException("tasks.Failed", "it failed", "it failed")

    result = roundtrip(serializer, exc)

    assert type(result) is UnknownRemoteException
    assert (result.original_type, result.message, result.args) == (
        "tasks.Failed",
        "it failed",
        ("it failed",),
    )


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(1)], ids=["Ctrl-C", "exit"])
def test_base_exceptions_outside_exception_are_not_serialized(
    serializer: JsonSerializer, exc: BaseException
) -> None:
    with pytest.raises(SerializationError, match="only Exception subclasses"):
        serializer.serialize(exc)


# --- safety: data never imports modules or reaches arbitrary objects ----------------------


@pytest.mark.parametrize(
    ("tag", "module", "qualname"),
    [
        ("exception", "os", "system"),
        ("dataclass", "os", "system"),
        ("enum", "os", "system"),
        ("exception", "os", "path.join"),
        ("exception", "subprocess", "Popen"),
        ("dataclass", "subprocess", "Popen"),
        ("enum", "subprocess", "Popen"),
        ("exception", "builtins", "eval"),
        ("dataclass", "builtins", "__import__"),
        ("exception", "builtins", "object"),
        ("enum", "collections", "OrderedDict"),
        ("exception", MODULE, "NotSerializable"),
        ("dataclass", MODULE, "payload"),
    ],
)
def test_payload_naming_a_non_allowed_object_is_refused(
    serializer: JsonSerializer, tag: str, module: str, qualname: str
) -> None:
    data = payload(tag, module, qualname, args=["echo pwned"], v={}, n="x")

    with pytest.raises(SerializationError, match="is not an exception, dataclass or enum") as info:
        serializer.deserialize(data)

    assert f"'{module}.{qualname}'" in str(info.value)


@pytest.mark.parametrize(
    ("tag", "qualname", "kind"),
    [
        ("dataclass", "Color", "a dataclass"),
        ("enum", "Point", "an enum"),
        ("exception", "Point", "an exception"),
    ],
)
def test_payload_naming_the_wrong_kind_of_class_is_refused(
    serializer: JsonSerializer, tag: str, qualname: str, kind: str
) -> None:
    with pytest.raises(SerializationError, match=f"is not {kind}"):
        serializer.deserialize(payload(tag, MODULE, qualname, args=[], v={"x": 1}, n="RED"))


@pytest.mark.parametrize("tag", ["dataclass", "enum"])
def test_class_of_unimported_module_is_refused_without_importing_it(
    serializer: JsonSerializer, tag: str
) -> None:
    assert NOT_IMPORTED not in sys.modules

    with pytest.raises(SerializationError, match=f"module '{NOT_IMPORTED}' is not imported"):
        serializer.deserialize(payload(tag, NOT_IMPORTED, "Anything", v={}, n="A"))

    assert NOT_IMPORTED not in sys.modules


@pytest.mark.parametrize("qualname", ["KeyboardInterrupt", "SystemExit", "GeneratorExit"])
def test_base_exception_payload_is_not_rebuilt(serializer: JsonSerializer, qualname: str) -> None:
    with pytest.raises(SerializationError, match="not an Exception subclass"):
        serializer.deserialize(exception_payload("builtins", qualname))


def test_lookup_does_not_trigger_module_getattr(
    serializer: JsonSerializer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    lazy = types.ModuleType("pynenc_test_lazy")

    def module_getattr(name: str) -> type[Exception]:
        calls.append(name)
        return ValueError

    lazy.__getattr__ = module_getattr  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, lazy.__name__, lazy)

    result = serializer.deserialize(exception_payload(lazy.__name__, "Lazy", "x"))

    assert isinstance(result, UnknownRemoteException)
    assert calls == []


def test_missing_enum_member_is_reported(serializer: JsonSerializer) -> None:
    with pytest.raises(SerializationError, match="has no member 'PURPLE'"):
        serializer.deserialize(payload("enum", MODULE, "Color", n="PURPLE"))


def test_unknown_dataclass_fields_are_reported(serializer: JsonSerializer) -> None:
    with pytest.raises(SerializationError, match=r"has no fields \['z'\]"):
        serializer.deserialize(payload("dataclass", MODULE, "Point", v={"x": 1, "z": 2}))


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_name", "path"),
    [
        ([1, 2, {"x": lambda: None}], "function", "$[2]['x']"),
        ({"k": [threading.Lock()]}, "_thread.lock", "$['k'][0]"),
        ((NotSerializable(),), f"{MODULE}.NotSerializable", "$[0]"),
        (NotSerializable(), f"{MODULE}.NotSerializable", "$"),
        ({"s": {NotSerializable()}}, f"{MODULE}.NotSerializable", "$['s']<set item>"),
        ({1: NotSerializable()}, f"{MODULE}.NotSerializable", "$[1]"),
        (Point(1, NotSerializable()), f"{MODULE}.NotSerializable", "$.y"),  # type: ignore[arg-type]
    ],
    ids=[
        "lambda",
        "lock",
        "in tuple",
        "top level",
        "in set",
        "int-keyed dict",
        "dataclass field",
    ],
)
def test_unsupported_value_error_names_type_path_and_alternatives(
    serializer: JsonSerializer, value: Any, type_name: str, path: str
) -> None:
    with pytest.raises(SerializationError) as info:
        serializer.serialize(value)

    message = str(info.value)
    assert f"'{type_name}'" in message
    assert f" at {path}:" in message
    assert (
        "use JSON-compatible types, dataclasses, enums, or set serializer_cls='PickleSerializer'"
        in message
    )


def test_open_file_is_refused(serializer: JsonSerializer) -> None:
    with (
        open(__file__) as handle,
        pytest.raises(SerializationError, match="TextIOWrapper"),
    ):
        serializer.serialize({"file": handle})


def test_builtin_subclass_is_refused_rather_than_losing_its_type(
    serializer: JsonSerializer,
) -> None:
    class Name(str):
        pass

    with pytest.raises(SerializationError, match="subclasses of str are not supported"):
        serializer.serialize(Name("x"))


def test_locally_defined_dataclass_is_refused_when_serializing(
    serializer: JsonSerializer,
) -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    with pytest.raises(SerializationError, match="defined inside a function"):
        serializer.serialize(Local(1))


def test_datetime_with_unsupported_tzinfo_is_refused(
    serializer: JsonSerializer,
) -> None:
    with pytest.raises(SerializationError, match="WeirdTz"):
        serializer.serialize(datetime(2024, 1, 1, tzinfo=WeirdTz()))


def test_self_referencing_value_is_refused(serializer: JsonSerializer) -> None:
    value: list[Any] = []
    value.append(value)

    with pytest.raises(SerializationError, match="reference to itself"):
        serializer.serialize(value)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "{",
        "not json",
        '{"__pynenc__":"no-such-tag","v":1}',
        '{"__pynenc__":"tuple","v":"abc"}',
        '{"__pynenc__":"bytes","v":"***"}',
        '{"__pynenc__":"dict","v":[[[1],2]]}',
        '{"__pynenc__":"timedelta","v":[1e300]}',
        '{"__pynenc__":"decimal","v":"abc"}',
        '{"__pynenc__":"exception","m":1,"q":2,"args":[]}',
        '{"__pynenc__":"exception"}',
        '{"__pynenc__":"datetime","v":"2024-01-01","tz":["zone",""]}',
    ],
)
def test_malformed_data_is_reported_as_invalid(serializer: JsonSerializer, data: str) -> None:
    with pytest.raises(SerializationError, match="not valid pynenc JSON"):
        serializer.deserialize(data)


def test_non_string_data_is_reported_as_invalid(serializer: JsonSerializer) -> None:
    with pytest.raises(SerializationError, match="expected str"):
        serializer.deserialize(b"{}")  # type: ignore[arg-type]
