"""The serializer contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class BaseSerializer(ABC):
    """Turns Python values into strings for storage and back.

    Implementations are stateless and thread-safe; the app builds one from ``serializer_cls``.
    Errors are reported as :class:`pynenc.exceptions.SerializationError`, naming the type that
    failed and what to do about it.
    """

    @abstractmethod
    def serialize(self, obj: Any) -> str:
        """Return a string from which :meth:`deserialize` rebuilds an equal value."""

    @abstractmethod
    def deserialize(self, data: str) -> Any:
        """Rebuild the value :meth:`serialize` produced."""
