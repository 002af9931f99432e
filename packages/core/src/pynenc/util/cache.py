"""Bounded caches: memory stays flat however many invocations pass through a process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


class LRUCache(Generic[K, V]):
    """A thread-safe least-recently-used cache holding at most ``maxsize`` entries."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        with self._lock:
            try:
                self._data.move_to_end(key)
            except KeyError:
                return default
            return self._data[key]

    def set(self, key: K, value: V) -> None:
        if self.maxsize == 0:
            return
        data = self._data
        with self._lock:
            if key in data:
                data.move_to_end(key)
            data[key] = value  # a new key goes last
            if len(data) > self.maxsize:
                data.popitem(last=False)

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class TTLCache(Generic[K, V]):
    """A bounded LRU cache whose entries expire ``ttl`` seconds after they were set."""

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lru: LRUCache[K, tuple[float, V]] = LRUCache(maxsize)

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: K) -> V | None:
        entry = self._lru.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            self._lru.pop(key)
            return None
        return value

    def set(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        self._lru.set(key, (self._clock() + self.ttl, value))

    def pop(self, key: K) -> None:
        self._lru.pop(key)

    def clear(self) -> None:
        self._lru.clear()
