"""The typed configuration engine: fields, parsers and the base class of every config.

A config class declares :class:`ConfigField` descriptors; an instance resolves every field once,
at construction, from a shared :class:`ConfigSources` snapshot (see
:mod:`pynenc.conf.config_sources` for the layers and the document structure), converts each raw
value with the field's parser and remembers where it came from. Reading a field afterwards is a
plain attribute lookup, because config values are read on hot paths.

Config classes compose by inheritance: ``class ConfigOrchestratorRedis(ConfigOrchestrator,
ConfigRedis)`` has the fields of both, and reads the ``orchestrator`` and ``redis`` sections, the
closest class in the MRO winning within one layer.
"""

from __future__ import annotations

import builtins
import importlib
import json
import math
from collections.abc import Callable, Mapping
from copy import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Generic, Self, TypeVar, cast, overload

from pynenc.conf.config_sources import (
    DEFAULT_SOURCE,
    ConfigSource,
    ConfigSources,
    SourceKind,
)
from pynenc.exceptions import ConfigError, ConfigValueError

__all__ = [
    "REDACTED",
    "ConfigField",
    "ConfigPynencBase",
    "ConfigSource",
    "ConfigSources",
    "ConfigValueInfo",
    "Parser",
    "SourceKind",
    "bounded",
    "enum_parser",
    "expected_of",
    "non_empty_str",
    "one_of",
    "optional",
    "parse_bool",
    "parse_exception_types",
    "parse_float",
    "parse_int",
    "parse_optional_bool",
    "parse_str",
    "parse_str_dict",
    "parse_str_set",
    "parse_str_tuple",
    "registered_section_keys",
]

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
N = TypeVar("N", int, float)

REDACTED = "********"


# --- parsers --------------------------------------------------------------------------------


class Parser(Generic[T]):
    """A conversion from raw input (file value, env string, Python value) to a field's type.

    It raises ``ValueError`` or ``TypeError`` on bad input; ``expected`` describes what it accepts,
    for the error message the engine builds.
    """

    __slots__ = ("_convert", "expected")

    def __init__(self, convert: Callable[[Any], T], expected: str) -> None:
        self._convert = convert
        self.expected = expected

    def __call__(self, raw: Any) -> T:
        return self._convert(raw)

    def __repr__(self) -> str:
        return f"Parser({self.expected!r})"


def expected_of(parser: Callable[[Any], Any]) -> str:
    """What a parser accepts; plain callables without ``expected`` fall back to their name."""
    expected = getattr(parser, "expected", None)
    if isinstance(expected, str):
        return expected
    return f"a value accepted by {getattr(parser, '__name__', repr(parser))}"


def _type_name(raw: object) -> str:
    return type(raw).__name__


_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ValueError(f"{raw!r} is not a boolean word")
    raise TypeError(f"got {_type_name(raw)}")


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise ValueError("it has a fractional part")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if number.is_integer():
            return int(number)
        raise ValueError("it is not a whole number")
    raise TypeError(f"got {_type_name(raw)}")


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            raise ValueError("not a number") from None
    else:
        raise TypeError(f"got {_type_name(raw)}")
    if not math.isfinite(number):
        raise ValueError("it must be finite")
    return number


def _to_str(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise TypeError(f"got {_type_name(raw)}")


def _to_non_empty_str(raw: Any) -> str:
    text = _to_str(raw)
    if not text.strip():
        raise ValueError("it is empty")
    return text


parse_bool: Parser[bool] = Parser(_to_bool, "a boolean (true/false, yes/no, on/off, 1/0)")
parse_int: Parser[int] = Parser(_to_int, "an integer")
parse_float: Parser[float] = Parser(_to_float, "a number")
parse_str: Parser[str] = Parser(_to_str, "a string")
non_empty_str: Parser[str] = Parser(_to_non_empty_str, "a non-empty string")


def bounded(
    inner: Parser[N],
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Parser[N]:
    """Wrap a numeric parser with range checks; the bounds appear in the expected description."""
    checks: list[tuple[str, float, Callable[[float, float], bool]]] = []
    if ge is not None:
        checks.append((">=", ge, lambda value, bound: value >= bound))
    if gt is not None:
        checks.append((">", gt, lambda value, bound: value > bound))
    if le is not None:
        checks.append(("<=", le, lambda value, bound: value <= bound))
    if lt is not None:
        checks.append(("<", lt, lambda value, bound: value < bound))
    constraint = " and ".join(f"{symbol} {bound:g}" for symbol, bound, _ in checks)

    def convert(raw: Any) -> N:
        value = inner(raw)
        for symbol, bound, holds in checks:
            if not holds(value, bound):
                raise ValueError(f"{value!r} is not {symbol} {bound:g}")
        return value

    return Parser(convert, f"{inner.expected} {constraint}" if constraint else inner.expected)


def one_of(*choices: str) -> Parser[str]:
    """Accept one of ``choices`` case-insensitively; the result is the choice as declared."""
    by_lower = {choice.lower(): choice for choice in choices}

    def convert(raw: Any) -> str:
        choice = by_lower.get(_to_str(raw).strip().lower())
        if choice is None:
            raise ValueError(f"{raw!r} is not one of the choices")
        return choice

    return Parser(convert, "one of " + ", ".join(repr(choice) for choice in choices))


def enum_parser(enum_cls: type[E]) -> Parser[E]:
    """Accept a member, its value, or its name (strings case-insensitively)."""
    by_name = {member.name.lower(): member for member in enum_cls}
    by_value = {
        member.value.lower(): member for member in enum_cls if isinstance(member.value, str)
    }

    def convert(raw: Any) -> E:
        if isinstance(raw, enum_cls):
            return raw
        if isinstance(raw, str):
            key = raw.strip().lower()
            member = by_value.get(key) or by_name.get(key)
            if member is None:
                raise ValueError(f"{raw!r} is not a {enum_cls.__name__}")
            return member
        if isinstance(raw, bool):
            raise TypeError(f"got {_type_name(raw)}")
        try:
            return enum_cls(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a {enum_cls.__name__}") from None

    labels = [str(m.value) if isinstance(m.value, str) else m.name.lower() for m in enum_cls]
    return Parser(convert, "one of " + ", ".join(labels))


_NONE_WORDS = frozenset({"", "none", "null"})


def optional(inner: Callable[[Any], T]) -> Parser[T | None]:
    """Accept ``None`` (or the strings "", "none", "null") as None, anything else via ``inner``."""

    def convert(raw: Any) -> T | None:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_WORDS):
            return None
        return inner(raw)

    return Parser(convert, f"{expected_of(inner)}, or none")


def _to_optional_bool(raw: Any) -> bool | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_WORDS | {"auto"}):
        return None
    return _to_bool(raw)


parse_optional_bool: Parser[bool | None] = Parser(
    _to_optional_bool, "a boolean (true/false, yes/no, on/off, 1/0), or auto"
)


def _str_items(raw: Any) -> list[str]:
    """List input: a collection of strings, a JSON array string or a comma-separated string."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON array: {exc}") from None
            if not isinstance(items, list):
                raise ValueError("the JSON value is not an array")
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(raw, set | frozenset):
        items = sorted(raw, key=str)
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise TypeError(f"got {_type_name(raw)}")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"item {item!r} is {_type_name(item)}, not a string")
    return items


_LIST_FORMS = "a list of strings (also a JSON array or a comma-separated string)"
parse_str_set: Parser[frozenset[str]] = Parser(lambda raw: frozenset(_str_items(raw)), _LIST_FORMS)
parse_str_tuple: Parser[tuple[str, ...]] = Parser(
    lambda raw: tuple(dict.fromkeys(_str_items(raw))), _LIST_FORMS
)


def _to_str_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON object: {exc}") from None
    if not isinstance(raw, Mapping):
        raise TypeError(f"got {_type_name(raw)}")
    for key in raw:
        if not isinstance(key, str):
            raise TypeError(f"key {key!r} is not a string")
    return dict(raw)


parse_str_dict: Parser[dict[str, Any]] = Parser(
    _to_str_dict, "a mapping with string keys (also a JSON object string)"
)


def _import_exception(name: str) -> object:
    """Resolve ``module:Name``, ``module.Name`` or a bare builtin / pynenc exception name.

    Importing is acceptable: configuration is input from the code owner, not from users.
    """
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        return _attribute_path(_import_module(module_name), attribute, name)
    if "." not in name:
        if hasattr(builtins, name):
            return getattr(builtins, name)
        pynenc_exceptions = importlib.import_module("pynenc.exceptions")
        if hasattr(pynenc_exceptions, name):
            return getattr(pynenc_exceptions, name)
        raise ValueError(f"{name!r} is not a builtin exception; write it as 'module:{name}'")
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        return _attribute_path(module, ".".join(parts[split:]), name)
    raise ValueError(f"cannot import a module for {name!r}")


def _import_module(module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None


def _attribute_path(obj: object, attribute: str, name: str) -> object:
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{name!r} does not exist") from None
    return obj


def _to_exception_type(item: object) -> type[Exception]:
    resolved = _import_exception(item.strip()) if isinstance(item, str) else item
    if isinstance(resolved, type) and issubclass(resolved, Exception):
        return resolved
    if isinstance(item, str | type):
        raise TypeError(f"{item!r} is not an Exception subclass")
    raise TypeError(f"item {item!r} is {_type_name(item)}, not an exception class or name")


def _to_exception_types(raw: Any) -> tuple[type[Exception], ...]:
    items: list[Any]
    if isinstance(raw, type):
        items = [raw]
    elif isinstance(raw, str):
        items = list(_str_items(raw))
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise TypeError(f"got {_type_name(raw)}")
    return tuple(dict.fromkeys(_to_exception_type(item) for item in items))


parse_exception_types: Parser[tuple[type[Exception], ...]] = Parser(
    _to_exception_types,
    "exception classes or their names ('ConnectionError', 'mypkg.errors:MyError')",
)


def _infer_parser(default: object) -> Parser[Any]:
    """The parser for a field declared without one, from its default's type."""
    if isinstance(default, bool):
        return parse_bool
    if isinstance(default, Enum):
        return enum_parser(type(default))
    if isinstance(default, int):
        return parse_int
    if isinstance(default, float):
        return parse_float
    if isinstance(default, str):
        return parse_str
    if isinstance(default, frozenset):
        return parse_str_set
    if isinstance(default, dict):
        return parse_str_dict
    raise TypeError(
        f"Cannot infer a parser for a ConfigField with default {default!r}: pass parser=..."
    )


# --- fields ---------------------------------------------------------------------------------


class ConfigField(Generic[T]):
    """A typed setting declared on a config class: ``app_id = ConfigField("pynenc", doc=...)``.

    Reading it on the class gives the field; on an instance, the resolved value. Without a
    ``parser`` the type is taken from the default (bool, int, float, str, Enum, frozenset of str,
    dict), so write ``5.0`` for a float field. ``secret`` values are redacted when described.
    """

    __slots__ = ("default", "doc", "expected", "name", "parser", "secret")

    def __init__(
        self,
        default: T,
        *,
        parser: Callable[[Any], T] | None = None,
        secret: bool = False,
        doc: str = "",
    ) -> None:
        self.parser: Callable[[Any], T] = parser if parser is not None else _infer_parser(default)
        self.expected = expected_of(self.parser)
        try:
            self.default: T = self.parser(default)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"ConfigField default {default!r} is not {self.expected}: {exc}"
            ) from exc
        self.secret = secret
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> ConfigField[T]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(
        self, instance: object | None, owner: type[Any] | None = None
    ) -> T | ConfigField[T]:
        if instance is None:
            return self
        raise AttributeError(f"Config field {self.name!r} is read before the config is resolved.")

    def __repr__(self) -> str:
        return f"ConfigField({self.default!r}, expected={self.expected!r})"


@dataclass(frozen=True)
class ConfigValueInfo:
    """One resolved field for display (``pynenc show_config``): secrets already redacted."""

    name: str
    value: Any
    source: ConfigSource
    secret: bool
    doc: str
    expected: str = ""


def _redact(value: object) -> object:
    if (
        value is None
        or value == ""
        or (isinstance(value, list | tuple | set | frozenset | dict) and not value)
    ):
        return value
    return REDACTED


def _fresh(value: T) -> T:
    """A shared default must not be mutated through one config object."""
    return copy(value) if isinstance(value, dict | list | set) else value


# --- config classes -------------------------------------------------------------------------


class ConfigPynencBase:
    """Base of every config class: resolves all fields eagerly from a :class:`ConfigSources`.

    ``section`` names the file section (and, with the lowercase class name, the environment
    segment) whose keys apply to this class and its subclasses; ``""`` reads only top-level keys
    and the class-name section. Field values are read-only once resolved; derive a changed copy
    with :meth:`with_overrides`.
    """

    section: ClassVar[str] = ""
    _config_fields: ClassVar[dict[str, ConfigField[Any]]] = {}
    _section_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._config_fields = _collect_fields(cls)
        cls._section_keys = _collect_section_keys(cls)

    def __init__(
        self,
        config_values: Mapping[str, Any] | None = None,
        config_filepath: str | None = None,
        *,
        sources: ConfigSources | None = None,
    ) -> None:
        if sources is None:
            sources = ConfigSources.load(config_values, config_filepath)
        else:
            if config_filepath is not None:
                raise TypeError("Pass config_filepath to ConfigSources.load, not with sources=.")
            if config_values:
                sources = sources.with_config_values(config_values)
        state = self.__dict__
        state["_sources"] = sources
        value_sources: dict[str, ConfigSource] = {}
        state["_value_sources"] = value_sources
        for name, field in self._config_fields.items():
            found = self._find_raw(sources, name)
            if found is None:
                state[name] = _fresh(field.default)
                value_sources[name] = DEFAULT_SOURCE
            else:
                raw, source = found
                state[name] = self._coerce(field, raw, source)
                value_sources[name] = source
        self._validate()

    def _find_raw(self, sources: ConfigSources, name: str) -> tuple[Any, ConfigSource] | None:
        """The raw value and its source for field ``name``, or None to use the default."""
        return sources.lookup(self._section_keys, name)

    def _coerce(self, field: ConfigField[T], raw: Any, source: ConfigSource) -> T:
        """Convert with the field's parser, reporting failures as ConfigValueError."""
        try:
            return field.parser(raw)
        except (ValueError, TypeError) as exc:
            shown = REDACTED if field.secret else raw
            detail = "" if field.secret else str(exc)
            raise ConfigValueError(field.name, shown, str(source), field.expected, detail) from None

    def _validate(self) -> None:
        """Check rules across fields once all are resolved; subclasses override."""

    def _unknown_fields_error(self, names: list[str]) -> Exception:
        valid = ", ".join(self._config_fields)
        return ConfigError(
            f"{type(self).__name__} has no config field {', '.join(map(repr, names))}. "
            f"Fields: {valid}."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._config_fields:
            raise AttributeError(
                f"Config field {name!r} is read-only; use with_overrides({name}=...) or "
                "config_values to change it."
            )
        super().__setattr__(name, value)

    @classmethod
    def config_fields(cls) -> dict[str, ConfigField[Any]]:
        """Every field of the class, inherited ones included, in declaration order."""
        return dict(cls._config_fields)

    @property
    def sources(self) -> ConfigSources:
        """The snapshot this config was resolved from; pass it on to sibling configs."""
        return cast(ConfigSources, self.__dict__["_sources"])

    def source_of(self, name: str) -> ConfigSource:
        """Where the value of field ``name`` came from."""
        value_sources = cast(dict[str, ConfigSource], self.__dict__["_value_sources"])
        try:
            return value_sources[name]
        except KeyError:
            raise self._unknown_fields_error([name]) from None

    def describe(self) -> list[ConfigValueInfo]:
        """Every field with its value and source, secrets redacted (unless empty)."""
        infos = []
        for name, field in self._config_fields.items():
            value = self.__dict__[name]
            infos.append(
                ConfigValueInfo(
                    name=name,
                    value=_redact(value) if field.secret else value,
                    source=self.source_of(name),
                    secret=field.secret,
                    doc=field.doc,
                    expected=field.expected,
                )
            )
        return infos

    def to_dict(self, redact: bool = True) -> dict[str, Any]:
        """Field names to values; secret values redacted unless ``redact`` is False."""
        return {
            name: _redact(self.__dict__[name]) if redact and field.secret else self.__dict__[name]
            for name, field in self._config_fields.items()
        }

    def with_overrides(self, **values: Any) -> Self:
        """A copy whose given fields take ``values`` (source kind ``config_values``)."""
        unknown = [name for name in values if name not in self._config_fields]
        if unknown:
            raise self._unknown_fields_error(unknown)
        clone = copy(self)
        state = clone.__dict__
        value_sources = dict(cast(dict[str, ConfigSource], state["_value_sources"]))
        state["_value_sources"] = value_sources
        for name, raw in values.items():
            source = ConfigSource("config_values", f"with_overrides({name}=...)")
            state[name] = clone._coerce(self._config_fields[name], raw, source)
            value_sources[name] = source
        clone._validate()
        return clone

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


def _collect_fields(cls: type[ConfigPynencBase]) -> dict[str, ConfigField[Any]]:
    """Fields from base to subclass so each keeps its first position, the most derived winning."""
    fields: dict[str, ConfigField[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, attribute in vars(klass).items():
            if isinstance(attribute, ConfigField):
                fields[name] = attribute
    return fields


def _collect_section_keys(cls: type[ConfigPynencBase]) -> tuple[str, ...]:
    """Section keys from the class to its farthest config parent: declared section, class name."""
    keys: list[str] = []
    for klass in cls.__mro__:
        if klass is ConfigPynencBase or not issubclass(klass, ConfigPynencBase):
            continue
        declared = vars(klass).get("section")
        for key in (declared, klass.__name__):
            if isinstance(key, str) and key and key.lower() not in keys:
                keys.append(key.lower())
    return tuple(keys)


def registered_section_keys() -> frozenset[str]:
    """Every section key of every config class defined so far (plugins included once imported)."""
    keys: set[str] = set()
    pending: list[type[ConfigPynencBase]] = list(ConfigPynencBase.__subclasses__())
    while pending:
        klass = pending.pop()
        keys.update(klass._section_keys)
        pending.extend(klass.__subclasses__())
    return frozenset(keys)
