"""The default serializer: compact, tagged JSON that never imports or runs code from the data.

JSON natives are written as they are. Every other supported value becomes an object tagged with
the reserved key ``"__pynenc__"``, e.g. ``{"__pynenc__":"tuple","v":[1,2]}``. A dict whose keys are
not all strings, or that contains the reserved key itself, is written as a ``"dict"`` tag holding
``[key, value]`` pairs, so any JSON object carrying the reserved key is always a tag.

Classes (enums, dataclasses, exceptions) are named by module and qualname and are only looked up in
modules this process has already imported; nothing else is ever resolved.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from types import ModuleType
from typing import Any, NoReturn, TypeGuard
from zoneinfo import ZoneInfo

from pynenc.exceptions import SerializationError
from pynenc.serializer.base_serializer import BaseSerializer

__all__ = ["TAG", "JsonSerializer", "UnknownRemoteException"]

TAG = "__pynenc__"
"""The reserved key marking a JSON object as an encoded non-JSON value."""

_HINT = "use JSON-compatible types, dataclasses, enums, or set serializer_cls='PickleSerializer'"

_NONE_TYPE = type(None)
_FAST_PLAIN: frozenset[type] = frozenset({str, int, float, bool, _NONE_TYPE})
_STRICT_PLAIN: frozenset[type] = frozenset({str, bool, _NONE_TYPE})
_BUILTIN_BASES: tuple[type, ...] = (
    str,
    int,
    float,
    complex,
    bytes,
    bytearray,
    list,
    tuple,
    dict,
    set,
    frozenset,
    datetime,
    date,
    time,
    timedelta,
    Decimal,
    uuid.UUID,
)

_BUILTIN_EXCEPTION_ATTRS: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (OSError, ("filename", "filename2")),
    (ImportError, ("name", "path")),
    (AttributeError, ("name",)),
    (NameError, ("name",)),
)
"""Attributes builtin exceptions keep outside ``args`` and ``__dict__``."""

_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


class UnknownRemoteException(Exception):
    """Stands in for an exception whose class is not importable here, so its failure stays visible.

    ``args`` are the original exception's arguments; ``original_type`` is ``"module.qualname"``.
    """

    def __init__(self, original_type: str, message: str, *args: object) -> None:
        super().__init__(*args)
        self.original_type = original_type
        self.message = message

    def __str__(self) -> str:
        return f"{self.original_type}: {self.message}"


# --- encoding ------------------------------------------------------------------------------


class _EncodeFailure(Exception):
    """Carries an unsupported value up the recursion, collecting its path on the way out."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.current: object = value
        self.segments: list[str] = []

    def enter(self, container: object, segment: str) -> None:
        self.segments.append(segment)
        self.current = container

    @property
    def path(self) -> str:
        return "$" + "".join(reversed(self.segments))


def _type_name(cls: type) -> str:
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _index_of(items: Iterable[Any], child: object) -> str:
    for i, item in enumerate(items):
        if item is child:
            return f"[{i}]"
    return "[?]"


def _key_of(mapping: dict[Any, Any], child: object) -> str:
    for key, value in mapping.items():
        if value is child:
            return f"[{_short_repr(key)}]"
        if key is child:
            return f"<key {_short_repr(key)}>"
    return "[?]"


def _tagged_str_dict(encoded: dict[str, Any]) -> Any:
    """Escape an encoded str-keyed dict that holds the reserved key, so it cannot pass for a tag."""
    if TAG in encoded:
        return {TAG: "dict", "v": [[k, v] for k, v in encoded.items()]}
    return encoded


def _encode_tz(tz: tzinfo | None, owner: object) -> Any:
    if tz is None:
        return None
    if type(tz) is timezone:
        init_args = tz.__getinitargs__()  # type: ignore[attr-defined]
        micros = init_args[0] // timedelta(microseconds=1)
        return ["fixed", micros] if len(init_args) == 1 else ["fixed", micros, init_args[1]]
    if type(tz) is ZoneInfo:
        if tz.key is None:
            raise _EncodeFailure(owner, "its ZoneInfo was loaded from a file and has no key")
        return ["zone", tz.key]
    raise _EncodeFailure(
        owner,
        f"its tzinfo '{_type_name(type(tz))}' is not datetime.timezone or zoneinfo.ZoneInfo",
    )


def _encode_temporal(tag: str, value: datetime | time) -> Any:
    out: dict[str, Any] = {
        TAG: tag,
        "v": value.replace(tzinfo=None, fold=0).isoformat(),
    }
    if value.tzinfo is not None:
        out["tz"] = _encode_tz(value.tzinfo, value)
    if value.fold:
        out["fold"] = 1
    return out


def _encode_int(value: int) -> Any:
    """Write ints too long for decimal text (see ``sys.set_int_max_str_digits``) in hex."""
    max_digits = sys.get_int_max_str_digits()
    if max_digits and value.bit_length() > 3 * max_digits:
        return {TAG: "int", "v": hex(value)}
    return value


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {TAG: "float", "v": repr(value)}


def _class_ref(cls: type, value: object) -> tuple[str, str]:
    if "<locals>" in cls.__qualname__:
        raise _EncodeFailure(
            value,
            "its class is defined inside a function and cannot be found when "
            "deserializing; define it at module level",
        )
    return cls.__module__, cls.__qualname__


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the original failure
        return object.__repr__(value)


def _traceback_text(exc: BaseException) -> str | None:
    if exc.__traceback__ is not None:
        return "".join(traceback.format_exception(exc))
    previous = exc.__dict__.get("__pynenc_traceback__")
    return previous if isinstance(previous, str) else None


_LEAF_ENCODERS: dict[type, Callable[[Any], Any]] = {
    bytes: lambda v: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {TAG: "bytearray", "v": base64.b64encode(v).decode("ascii")},
    datetime: lambda v: _encode_temporal("datetime", v),
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    time: lambda v: _encode_temporal("time", v),
    timedelta: lambda v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
}


def _build_encoder(plain: frozenset[type], strict: bool) -> Callable[[Any], Any]:
    """Make the recursive encoder; ``plain`` types are returned untouched, without a call."""
    leaf = dict(_LEAF_ENCODERS)
    if strict:
        leaf[int] = _encode_int
        leaf[float] = _encode_float

    def enc_list(value: list[Any]) -> Any:
        try:
            return [v if type(v) in plain else enc(v) for v in value]
        except _EncodeFailure as failure:
            failure.enter(value, _index_of(value, failure.current))
            raise

    def enc_seq(tag: str, value: tuple[Any, ...]) -> Any:
        try:
            return {TAG: tag, "v": [v if type(v) in plain else enc(v) for v in value]}
        except _EncodeFailure as failure:
            failure.enter(value, _index_of(value, failure.current))
            raise

    def enc_set(tag: str, value: set[Any] | frozenset[Any]) -> Any:
        try:
            items = [v if type(v) in plain else enc(v) for v in value]
        except _EncodeFailure as failure:
            failure.enter(value, "<set item>")
            raise
        if len(items) > 1:
            items.sort(key=_dumps)
        return {TAG: tag, "v": items}

    def enc_pairs(value: dict[Any, Any]) -> Any:
        try:
            return {
                TAG: "dict",
                "v": [
                    [
                        k if type(k) in plain else enc(k),
                        v if type(v) in plain else enc(v),
                    ]
                    for k, v in value.items()
                ],
            }
        except _EncodeFailure as failure:
            failure.enter(value, _key_of(value, failure.current))
            raise

    def enc_dict(value: dict[Any, Any]) -> Any:
        out: dict[str, Any] = {}
        try:
            for k, v in value.items():
                if type(k) is not str:
                    break
                out[k] = v if type(v) in plain else enc(v)
            else:
                return _tagged_str_dict(out)
        except _EncodeFailure as failure:
            failure.enter(value, _key_of(value, failure.current))
            raise
        return enc_pairs(value)

    def enc_enum(value: enum.Enum) -> Any:
        module, qualname = _class_ref(type(value), value)
        out: dict[str, Any] = {TAG: "enum", "m": module, "q": qualname}
        name = value._name_
        if name is not None and type(value)._member_map_.get(name) is value:
            out["n"] = name
        else:
            raw = value._value_
            try:
                out["v"] = raw if type(raw) in plain else enc(raw)
            except _EncodeFailure as failure:
                failure.enter(value, ".value")
                raise
        return out

    def enc_dataclass(value: Any) -> Any:
        module, qualname = _class_ref(type(value), value)
        encoded: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            raw = getattr(value, field.name)
            try:
                encoded[field.name] = raw if type(raw) in plain else enc(raw)
            except _EncodeFailure as failure:
                failure.enter(value, f".{field.name}")
                raise
        return {
            TAG: "dataclass",
            "m": module,
            "q": qualname,
            "v": _tagged_str_dict(encoded),
        }

    def enc_exception(value: BaseException) -> Any:
        cls = type(value)
        if not isinstance(value, Exception):
            raise _EncodeFailure(
                value,
                "only Exception subclasses are serialized; KeyboardInterrupt, SystemExit "
                "and other BaseException subclasses are not",
            )
        args: list[Any] = []
        for arg in value.args:
            try:
                args.append(arg if type(arg) in plain else enc(arg))
            except (_EncodeFailure, RecursionError):
                args.append(repr(arg))
        attrs: dict[str, Any] = {}
        for name, attr in vars(value).items():
            if name == "__pynenc_traceback__":
                continue
            try:
                attrs[name] = attr if type(attr) in plain else enc(attr)
            except (_EncodeFailure, RecursionError):
                continue
        out: dict[str, Any] = {
            TAG: "exception",
            "m": cls.__module__,
            "q": cls.__qualname__,
            "args": args,
            "msg": _safe_str(value),
        }
        if attrs:
            out["attrs"] = _tagged_str_dict(attrs)
        builtin_attrs: dict[str, Any] = {}
        for base, names in _BUILTIN_EXCEPTION_ATTRS:
            if isinstance(value, base):
                for name in names:
                    attr = getattr(value, name, None)
                    if attr is not None and type(attr) in _STRICT_PLAIN:
                        builtin_attrs[name] = attr
        if builtin_attrs:
            out["builtin_attrs"] = builtin_attrs
        tb = _traceback_text(value)
        if tb is not None:
            out["traceback"] = tb
        return out

    def enc_other(value: Any) -> Any:
        cls = type(value)
        if isinstance(value, enum.Enum):
            return enc_enum(value)
        if dataclasses.is_dataclass(value):
            return enc_dataclass(value)
        if isinstance(value, BaseException):
            return enc_exception(value)
        if isinstance(value, _BUILTIN_BASES):
            base = next(b for b in cls.__mro__ if b in _BUILTIN_BASES)
            raise _EncodeFailure(
                value,
                f"subclasses of {_type_name(base)} are not supported; convert to "
                f"{_type_name(base)} or use a dataclass",
            )
        raise _EncodeFailure(value, "the JSON serializer does not support this type")

    def enc(value: Any) -> Any:
        cls = type(value)
        if cls in plain:
            return value
        if cls is list:
            return enc_list(value)
        if cls is dict:
            return enc_dict(value)
        if cls is tuple:
            return enc_seq("tuple", value)
        handler = leaf.get(cls)
        if handler is not None:
            return handler(value)
        if cls is set:
            return enc_set("set", value)
        if cls is frozenset:
            return enc_set("frozenset", value)
        if cls is complex:
            return {TAG: "complex", "v": [enc(value.real), enc(value.imag)]}
        return enc_other(value)

    return enc


_encode_fast = _build_encoder(_FAST_PLAIN, strict=False)
_encode_strict = _build_encoder(_STRICT_PLAIN, strict=True)


# --- decoding ------------------------------------------------------------------------------


class _Unresolvable(Exception):
    """The named class cannot be looked up without importing or guessing."""


_NOT_FOUND = object()


def _lookup(module: object, qualname: object) -> object:
    """Find ``module.qualname`` by reading namespaces only: no imports, no ``__getattr__`` hooks."""
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise SerializationError("Data is not valid pynenc JSON: a class reference is not a string")
    owner = sys.modules.get(module)
    if owner is None:
        raise _Unresolvable(
            f"module '{module}' is not imported in this process; import it before deserializing"
        )
    obj: object = owner
    for part in qualname.split("."):
        if not isinstance(obj, (ModuleType, type)):
            raise _Unresolvable(f"'{module}.{qualname}' does not name a class in '{module}'")
        obj = vars(obj).get(part, _NOT_FOUND)
        if obj is _NOT_FOUND:
            raise _Unresolvable(
                f"module '{module}' has no class '{qualname}' (renamed, removed, or defined "
                "inside a function?)"
            )
    return obj


def _refuse(module: str, qualname: str, why: str) -> NoReturn:
    raise SerializationError(f"Refused to rebuild '{module}.{qualname}': {why}")


def _resolve(data: dict[str, Any], check: Callable[[object], bool], kind: str) -> Any:
    module, qualname = data["m"], data["q"]
    try:
        obj = _lookup(module, qualname)
    except _Unresolvable as exc:
        raise SerializationError(f"Cannot rebuild {kind} '{module}.{qualname}': {exc}") from None
    if not check(obj):
        _refuse(module, qualname, _kind_mismatch(obj, f"{module}.{qualname}", kind))
    return obj


def _kind_mismatch(obj: object, name: str, kind: str) -> str:
    if _is_enum(obj) or _is_dataclass_type(obj) or _is_exception_type(obj):
        return f"'{name}' is not {kind}"
    return f"'{name}' is not an exception, dataclass or enum, the only classes rebuilt from JSON"


def _is_enum(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, enum.Enum)


def _is_dataclass_type(obj: object) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def _is_exception_type(obj: object) -> TypeGuard[type[BaseException]]:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _decode_tz(raw: Any) -> tzinfo | None:
    if raw is None:
        return None
    if raw[0] == "fixed":
        offset = timedelta(microseconds=raw[1])
        return timezone(offset) if len(raw) == 2 else timezone(offset, raw[2])
    if raw[0] == "zone" and isinstance(raw[1], str):
        return ZoneInfo(raw[1])
    raise ValueError(f"unknown timezone form {raw[0]!r}")


def _decode_datetime(d: dict[str, Any]) -> datetime:
    value = datetime.fromisoformat(d["v"])
    return value.replace(tzinfo=_decode_tz(d.get("tz")), fold=d.get("fold", 0))


def _decode_time(d: dict[str, Any]) -> time:
    value = time.fromisoformat(d["v"])
    return value.replace(tzinfo=_decode_tz(d.get("tz")), fold=d.get("fold", 0))


def _decode_int(d: dict[str, Any]) -> int:
    raw = d["v"]
    if not isinstance(raw, str):
        raise TypeError("int payload is not a string")
    return int(raw, 16)


def _decode_float(d: dict[str, Any]) -> float:
    raw = d["v"]
    if raw not in ("nan", "inf", "-inf"):
        raise ValueError(f"unexpected float payload {raw!r}")
    return float(raw)


def _decode_bytes(d: dict[str, Any]) -> bytes:
    return base64.b64decode(d["v"], validate=True)


def _decode_enum(d: dict[str, Any]) -> enum.Enum:
    cls = _resolve(d, _is_enum, "an enum")
    try:
        if "n" in d:
            member = cls._member_map_[d["n"]]
        else:
            member = cls(d["v"])
    except (KeyError, ValueError):
        raise SerializationError(
            f"Enum '{d['m']}.{d['q']}' has no member {d.get('n', d.get('v'))!r}; the sender may "
            "run a different version of that module"
        ) from None
    if not isinstance(member, enum.Enum):
        raise SerializationError(f"Enum '{d['m']}.{d['q']}' did not return a member")
    return member


def _decode_dataclass(d: dict[str, Any]) -> Any:
    cls = _resolve(d, _is_dataclass_type, "a dataclass")
    values = d["v"]
    if not isinstance(values, dict):
        raise TypeError("dataclass payload is not an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise SerializationError(
            f"Dataclass '{d['m']}.{d['q']}' has no fields {sorted(unknown)}; the sender may run a "
            "different version of that module"
        )
    kwargs = {name: v for name, v in values.items() if fields[name].init}
    try:
        instance = cls(**kwargs)
    except Exception as exc:
        raise SerializationError(
            f"Dataclass '{d['m']}.{d['q']}' could not be rebuilt from its fields: {exc!r}"
        ) from exc
    for name, v in values.items():
        if not fields[name].init:
            object.__setattr__(instance, name, v)
    return instance


def _unknown_exception(d: dict[str, Any], args: tuple[Any, ...]) -> UnknownRemoteException:
    return UnknownRemoteException(f"{d['m']}.{d['q']}", str(d.get("msg", "")), *args)


def _decode_exception(d: dict[str, Any]) -> BaseException:
    module, qualname, raw_args = d["m"], d["q"], d["args"]
    if not isinstance(raw_args, list):
        raise TypeError("exception args are not a list")
    args = tuple(raw_args)
    attrs = d.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise TypeError("exception attributes are not an object")
    try:
        cls = _lookup(module, qualname)
    except _Unresolvable:
        exc: BaseException = _unknown_exception(d, args)
    else:
        if not _is_exception_type(cls):
            _refuse(
                module,
                qualname,
                _kind_mismatch(cls, f"{module}.{qualname}", "an exception"),
            )
        if not issubclass(cls, Exception):
            _refuse(
                module,
                qualname,
                "it is not an Exception subclass (KeyboardInterrupt, SystemExit "
                "and other BaseException subclasses are never rebuilt)",
            )
        exc = _instantiate_exception(cls, args, attrs) or _unknown_exception(d, args)
        _restore_builtin_attrs(exc, d.get("builtin_attrs"))
    tb = d.get("traceback")
    if isinstance(tb, str):
        exc.__pynenc_traceback__ = tb  # type: ignore[attr-defined]
    return exc


def _restore_builtin_attrs(exc: BaseException, saved: Any) -> None:
    if not saved:
        return
    if not isinstance(saved, dict):
        raise TypeError("exception builtin attributes are not an object")
    for base, names in _BUILTIN_EXCEPTION_ATTRS:
        if isinstance(exc, base):
            for name in names:
                if name in saved:
                    setattr(exc, name, saved[name])


def _instantiate_exception(
    cls: type[Exception], args: tuple[Any, ...], attrs: dict[str, Any]
) -> Exception | None:
    try:
        exc = cls(*args)
    except Exception:  # noqa: BLE001 - any custom __init__ signature falls back to __new__
        try:
            exc = cls.__new__(cls)
        except TypeError:
            return None
    exc.args = args
    exc.__dict__.update(attrs)
    return exc


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "tuple": lambda d: tuple(d["v"]),
    "set": lambda d: set(d["v"]),
    "frozenset": lambda d: frozenset(d["v"]),
    "dict": lambda d: {k: v for k, v in d["v"]},
    "bytes": _decode_bytes,
    "bytearray": lambda d: bytearray(_decode_bytes(d)),
    "int": _decode_int,
    "float": _decode_float,
    "complex": lambda d: complex(*d["v"]),
    "datetime": _decode_datetime,
    "date": lambda d: date.fromisoformat(d["v"]),
    "time": _decode_time,
    "timedelta": lambda d: timedelta(*d["v"]),
    "decimal": lambda d: Decimal(d["v"]),
    "uuid": lambda d: uuid.UUID(d["v"]),
    "enum": _decode_enum,
    "dataclass": _decode_dataclass,
    "exception": _decode_exception,
}
_SEQUENCE_TAGS = frozenset({"tuple", "set", "frozenset", "dict", "complex", "timedelta"})
_STRING_TAGS = frozenset({"bytes", "bytearray", "datetime", "date", "time", "decimal", "uuid"})


def _object_hook(d: dict[str, Any]) -> Any:
    tag = d.get(TAG)
    if tag is None:
        return d
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise SerializationError(f"Data is not valid pynenc JSON: unknown tag {tag!r}")
    if tag in _SEQUENCE_TAGS and not isinstance(d.get("v"), list):
        raise SerializationError(f"Data is not valid pynenc JSON: '{tag}' payload is not a list")
    if tag in _STRING_TAGS and not isinstance(d.get("v"), str):
        raise SerializationError(f"Data is not valid pynenc JSON: '{tag}' payload is not a string")
    return decoder(d)


_loads = json.JSONDecoder(object_hook=_object_hook).decode


class JsonSerializer(BaseSerializer):
    """Serializes to tagged JSON; safe for data from any source and readable by other tools."""

    def serialize(self, obj: Any) -> str:
        try:
            try:
                return _dumps(_encode_fast(obj))
            except ValueError:
                return _dumps(_encode_strict(obj))
        except _EncodeFailure as failure:
            raise SerializationError(
                f"Cannot serialize value of type '{_type_name(type(failure.value))}' at "
                f"{failure.path}: {failure.reason}; {_HINT}"
            ) from None
        except RecursionError:
            raise SerializationError(
                f"Cannot serialize value of type '{_type_name(type(obj))}': it is nested too "
                f"deeply or contains a reference to itself; {_HINT}"
            ) from None

    def deserialize(self, data: str) -> Any:
        if not isinstance(data, str):
            raise SerializationError(
                f"Data is not valid pynenc JSON: expected str, got '{_type_name(type(data))}'"
            )
        try:
            return _loads(data)
        except SerializationError:
            raise
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            ArithmeticError,
            RecursionError,
        ) as exc:
            raise SerializationError(f"Data is not valid pynenc JSON: {exc}") from None
