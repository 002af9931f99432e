"""Opt-in serializer for values JSON cannot hold; it trusts the data completely."""

from __future__ import annotations

import base64
import binascii
import pickle
import threading
import warnings
from typing import Any

from pynenc.exceptions import SerializationError
from pynenc.serializer.base_serializer import BaseSerializer

__all__ = ["PickleSecurityWarning", "PickleSerializer"]


class PickleSecurityWarning(UserWarning):
    """Reminds that unpickling runs code chosen by whoever wrote the data."""


_WARNING = (
    "PickleSerializer is enabled: unpickling executes code contained in the data, so anyone who "
    "can write to the broker, orchestrator or state backend can run code in this process. Only "
    "use it with a trusted backend; JsonSerializer is the safe default."
)
_warned = False
_warn_lock = threading.Lock()


def _warn_once() -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(_WARNING, PickleSecurityWarning, stacklevel=3)


def _type_name(obj: object) -> str:
    cls = type(obj)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


class PickleSerializer(BaseSerializer):
    """Serializes with pickle (highest protocol) as base64 text; any picklable value round-trips."""

    def __init__(self) -> None:
        _warn_once()

    def serialize(self, obj: Any) -> str:
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"Cannot pickle value of type '{_type_name(obj)}': {exc}. Make it picklable "
                "(define it at module level, drop open files, locks and lambdas) or pass a "
                "reference instead."
            ) from exc
        return base64.b64encode(data).decode("ascii")

    def deserialize(self, data: str) -> Any:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise SerializationError(f"Data is not valid pynenc pickle data: {exc}") from None
        try:
            return pickle.loads(raw)
        except Exception as exc:
            raise SerializationError(
                f"Cannot unpickle data: {exc!r}. The module defining the value may be missing or "
                "differ from the sender's."
            ) from exc
