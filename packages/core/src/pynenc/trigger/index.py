"""Which tasks and event codes triggers listen to, built from stored condition descriptions.

Every process keeps one (refreshed every ``trigger_index_refresh_seconds``) so that the hooks on
the invocation hot path can return at once for a task no trigger watches, without importing the
modules that declare the triggers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynenc.invocation.status import InvocationStatus
from pynenc.trigger.conditions import ConditionKind, describe_source

TASK_KINDS = frozenset({ConditionKind.STATUS, ConditionKind.RESULT, ConditionKind.EXCEPTION})


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One condition listening to a source; ``statuses`` only for status conditions."""

    condition_id: str
    statuses: frozenset[InvocationStatus] = frozenset()


class SourceIndex:
    """Conditions by (kind, source); ``watched_tasks`` is empty when no trigger listens to any
    task, which is what the hot path checks first."""

    def __init__(self, descriptions: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._entries: dict[tuple[ConditionKind, str], list[WatchEntry]] = {}
        for condition_id, description in (descriptions or {}).items():
            key = describe_source(description)
            if key is None:
                continue
            statuses = frozenset(InvocationStatus(s) for s in description.get("statuses", ()) or ())
            self._entries.setdefault(key, []).append(WatchEntry(condition_id, statuses))
        self.watched_tasks: frozenset[str] = frozenset(
            source for kind, source in self._entries if kind in TASK_KINDS
        )

    def entries(self, kind: ConditionKind, source: str) -> list[WatchEntry]:
        return self._entries.get((kind, source), [])


def parse_descriptions(stored: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Stored condition descriptions (``_get_all_conditions()``), parsed; text that does not
    parse is left out."""
    parsed: dict[str, dict[str, Any]] = {}
    for condition_id, text in stored.items():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed[condition_id] = value
    return parsed
