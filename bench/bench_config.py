"""The app configuration every bench process builds, and how it travels to worker processes.

``run.py`` gathers config values (``--config FILE``, ``--set key=value``) and hands them to each
process it starts in one environment variable, so the client and every worker build the same
app (same backends, same app id) when they import :mod:`bench_tasks`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "PYNENC_BENCH_CONFIG"
"""Holds the JSON form of :class:`BenchConfig` for the processes of one bench session."""


class BenchConfigError(ValueError):
    """A ``--set`` assignment or the bench environment variable cannot be read."""


@dataclass(frozen=True)
class BenchConfig:
    """Config values and an optional config file, as given to ``Pynenc(...)``."""

    values: dict[str, Any] = field(default_factory=dict)
    filepath: str | None = None

    def to_env(self) -> str:
        return json.dumps({"values": self.values, "filepath": self.filepath}, sort_keys=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchConfig:
        """The config in :data:`ENV_VAR`; empty (pynenc's own sources only) when unset."""
        raw = (os.environ if environ is None else environ).get(ENV_VAR)
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(dict(data.get("values") or {}), data.get("filepath"))
        except (ValueError, AttributeError, TypeError) as exc:
            raise BenchConfigError(
                f"{ENV_VAR} is not a bench config ({exc}); unset it or let run.py set it."
            ) from exc

    def merged(self, values: Mapping[str, Any]) -> BenchConfig:
        """A copy with ``values`` laid over this config's values (sections merge key by key)."""
        return BenchConfig(_deep_merge(self.values, values), self.filepath)

    def with_filepath(self, filepath: str | None) -> BenchConfig:
        return BenchConfig(dict(self.values), filepath)


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` or ``section.key=value`` strings as (nested) config values.

    Values stay strings: pynenc's config engine coerces them to each field's type, as it does
    for environment variables.
    """
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise BenchConfigError(
                f"--set {item!r} is not 'key=value' (or 'section.key=value'), e.g. "
                "--set broker_cls=MemBroker"
            )
        values = _deep_merge(values, _nest(path, value))
    return values


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for part in reversed(path):
        nested = {part: nested}
    result: dict[str, Any] = nested
    return result


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged
