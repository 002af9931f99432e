"""In-memory trigger storage."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.trigger.base_trigger import BaseTrigger, EventRecord, TriggerRunRecord

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class MemTrigger(BaseTrigger):
    """Thread-safe trigger storage in process memory; not shared across processes."""

    cross_process: ClassVar[bool] = False

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._lock = threading.Lock()
        self._conditions: dict[str, str] = {}
        self._triggers: dict[str, str] = {}
        self._by_condition: dict[str, list[str]] = {}
        self._valid: dict[str, tuple[str, str, str]] = {}
        self._cron_last_run: dict[str, datetime] = {}
        self._runs: dict[str, TriggerRunRecord] = {}
        self._events: dict[str, EventRecord] = {}
        self._run_sources: dict[str, list[str]] = {}

    def _store_condition(self, condition_id: str, serialized: str) -> None:
        with self._lock:
            self._conditions[condition_id] = serialized

    def _get_condition(self, condition_id: str) -> str | None:
        with self._lock:
            return self._conditions.get(condition_id)

    def _get_all_conditions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._conditions)

    def _store_trigger(
        self, trigger_id: str, serialized: str, condition_ids: Sequence[str]
    ) -> None:
        with self._lock:
            self._triggers[trigger_id] = serialized
            for condition_id in condition_ids:
                ids = self._by_condition.setdefault(condition_id, [])
                if trigger_id not in ids:
                    ids.append(trigger_id)

    def _get_trigger(self, trigger_id: str) -> str | None:
        with self._lock:
            return self._triggers.get(trigger_id)

    def _get_trigger_ids_for_condition(self, condition_id: str) -> list[str]:
        with self._lock:
            return list(self._by_condition.get(condition_id, []))

    def _remove_trigger(self, trigger_id: str) -> None:
        with self._lock:
            self._triggers.pop(trigger_id, None)
            for ids in self._by_condition.values():
                if trigger_id in ids:
                    ids.remove(trigger_id)

    def _add_valid_conditions(self, entries: Sequence[tuple[str, str, str]]) -> None:
        with self._lock:
            for entry in entries:
                self._valid[entry[0]] = entry

    def _get_valid_conditions(self, limit: int) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._valid.values())[:limit]

    def _remove_valid_conditions(self, valid_condition_ids: Sequence[str]) -> None:
        with self._lock:
            for valid_id in valid_condition_ids:
                self._valid.pop(valid_id, None)

    def _cas_cron_last_run(
        self, condition_id: str, expected: datetime | None, new: datetime
    ) -> bool:
        with self._lock:
            if self._cron_last_run.get(condition_id) != expected:
                return False
            self._cron_last_run[condition_id] = new
            return True

    def _get_cron_last_run(self, condition_id: str) -> datetime | None:
        with self._lock:
            return self._cron_last_run.get(condition_id)

    def _claim_trigger_run(self, trigger_run_id: str, trigger_id: str, now: datetime) -> bool:
        with self._lock:
            if trigger_run_id in self._runs:
                return False
            self._runs[trigger_run_id] = TriggerRunRecord(trigger_run_id, trigger_id, now)
            return True

    def _reclaim_trigger_run(
        self, trigger_run_id: str, claimed_at: datetime, now: datetime
    ) -> bool:
        with self._lock:
            run = self._runs.get(trigger_run_id)
            if run is None or run.claimed_at != claimed_at or run.invocation_ids:
                return False
            self._runs[trigger_run_id] = replace(run, claimed_at=now)
            return True

    def _record_trigger_run_invocations(
        self, trigger_run_id: str, invocation_ids: Sequence[str]
    ) -> None:
        with self._lock:
            run = self._runs.get(trigger_run_id)
            if run is not None:
                self._runs[trigger_run_id] = replace(
                    run, invocation_ids=run.invocation_ids + tuple(invocation_ids)
                )

    def _get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None:
        with self._lock:
            return self._runs.get(trigger_run_id)

    def _add_trigger_run_sources(self, trigger_run_id: str, source_ids: Sequence[str]) -> None:
        with self._lock:
            for source_id in source_ids:
                runs = self._run_sources.setdefault(source_id, [])
                if trigger_run_id not in runs:
                    runs.append(trigger_run_id)

    def _get_trigger_run_ids_for_source(self, source_id: str) -> list[str]:
        with self._lock:
            return list(self._run_sources.get(source_id, []))

    def _store_event(self, event: EventRecord) -> None:
        with self._lock:
            self._events[event.event_id] = event

    def _get_event(self, event_id: str) -> EventRecord | None:
        with self._lock:
            return self._events.get(event_id)

    def _purge_records(
        self, events_before: datetime, runs_before: datetime, max_events: int, max_runs: int
    ) -> None:
        with self._lock:
            events = sorted(
                (e for e in self._events.values() if e.emitted_at >= events_before),
                key=lambda e: e.emitted_at,
            )
            if max_events > 0:
                events = events[-max_events:]
            self._events = {e.event_id: e for e in events}
            runs = sorted(
                (r for r in self._runs.values() if r.claimed_at >= runs_before),
                key=lambda r: r.claimed_at,
            )
            if max_runs > 0:
                runs = runs[-max_runs:]
            self._runs = {r.trigger_run_id: r for r in runs}
            self._run_sources = {
                source: kept
                for source, run_ids in self._run_sources.items()
                if (kept := [r for r in run_ids if r in self._runs])
            }

    def purge(self) -> None:
        with self._lock:
            for store in (
                self._conditions,
                self._triggers,
                self._by_condition,
                self._valid,
                self._cron_last_run,
                self._runs,
                self._events,
                self._run_sources,
            ):
                store.clear()
