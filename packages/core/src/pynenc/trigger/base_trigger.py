"""The trigger contract: storage for conditions, trigger definitions, satisfied conditions,
cron last-run compare-and-set, trigger-run claims and event records.

Condition and trigger semantics live above this contract, so every backend only stores strings
and performs a few atomic steps (the cron compare-and-set and the trigger-run claim are what make
one tick or one event fire exactly once across any number of runners).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from pynenc.conf.config_trigger import ConfigTrigger

if TYPE_CHECKING:
    from pynenc.app import Pynenc


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An emitted event: id, code, serialized payload and when it was emitted."""

    event_id: str
    event_code: str
    payload: str
    emitted_at: datetime


@dataclass(frozen=True, slots=True)
class TriggerRunRecord:
    """A claimed trigger run and the invocations it created."""

    trigger_run_id: str
    trigger_id: str
    claimed_at: datetime
    invocation_ids: tuple[str, ...] = ()


class BaseTrigger(ABC):
    """Stores what the trigger loop needs and performs its atomic claims."""

    config_cls: ClassVar[type[ConfigTrigger]] = ConfigTrigger

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)

    # ---- conditions and trigger definitions -------------------------------------------

    @abstractmethod
    def _store_condition(self, condition_id: str, serialized: str) -> None: ...

    @abstractmethod
    def _get_condition(self, condition_id: str) -> str | None: ...

    @abstractmethod
    def _get_all_conditions(self) -> dict[str, str]: ...

    @abstractmethod
    def _store_trigger(
        self, trigger_id: str, serialized: str, condition_ids: Sequence[str]
    ) -> None:
        """Store a trigger definition and index it under each of its conditions."""

    @abstractmethod
    def _get_trigger(self, trigger_id: str) -> str | None: ...

    @abstractmethod
    def _get_trigger_ids_for_condition(self, condition_id: str) -> list[str]: ...

    @abstractmethod
    def _remove_trigger(self, trigger_id: str) -> None: ...

    # ---- satisfied ("valid") conditions -------------------------------------------------

    @abstractmethod
    def _add_valid_conditions(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """Record satisfied conditions as (valid_condition_id, condition_id, serialized)."""

    @abstractmethod
    def _get_valid_conditions(self, limit: int) -> list[tuple[str, str, str]]:
        """Satisfied conditions not yet consumed, oldest first."""

    @abstractmethod
    def _remove_valid_conditions(self, valid_condition_ids: Sequence[str]) -> None: ...

    # ---- atomic steps ---------------------------------------------------------------------

    @abstractmethod
    def _cas_cron_last_run(
        self, condition_id: str, expected: datetime | None, new: datetime
    ) -> bool:
        """Set the last run time of a cron condition to ``new`` only if it is ``expected``."""

    @abstractmethod
    def _get_cron_last_run(self, condition_id: str) -> datetime | None: ...

    @abstractmethod
    def _claim_trigger_run(self, trigger_run_id: str, trigger_id: str, now: datetime) -> bool:
        """Claim a trigger run; True for exactly one caller per ``trigger_run_id``."""

    @abstractmethod
    def _record_trigger_run_invocations(
        self, trigger_run_id: str, invocation_ids: Sequence[str]
    ) -> None: ...

    @abstractmethod
    def _get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None: ...

    # ---- events -----------------------------------------------------------------------------

    @abstractmethod
    def _store_event(self, event: EventRecord) -> None: ...

    @abstractmethod
    def _get_event(self, event_id: str) -> EventRecord | None: ...

    @abstractmethod
    def _purge_records(self, older_than: datetime, max_events: int, max_runs: int) -> None:
        """Delete events and trigger runs older than ``older_than``, then all but the newest
        ``max_events`` events and ``max_runs`` runs (0 keeps all)."""

    @abstractmethod
    def purge(self) -> None:
        """Delete everything the trigger component stores for the app."""

    # ---- policy -------------------------------------------------------------------------------

    def claim_cron_tick(self, condition_id: str, tick: datetime) -> bool:
        """True for exactly one caller per (condition, tick): the compare-and-set on the last
        run time advances it only from the value this caller saw."""
        last = self._get_cron_last_run(condition_id)
        if last is not None and last >= tick:
            return False
        return self._cas_cron_last_run(condition_id, last, tick)

    def claim_trigger_run(self, trigger_run_id: str, trigger_id: str) -> bool:
        return self._claim_trigger_run(trigger_run_id, trigger_id, self.app.clock.now())

    def purge_old_records(self) -> None:
        """Apply the retention settings; a retention of 0 hours keeps records of any age."""
        retentions = [
            hours
            for hours in (self.conf.event_retention_hours, self.conf.trigger_run_retention_hours)
            if hours > 0
        ]
        older_than = (
            self.app.clock.now() - timedelta(hours=min(retentions))
            if retentions
            else datetime.min.replace(tzinfo=UTC)
        )
        self._purge_records(
            older_than, self.conf.event_max_records, self.conf.trigger_run_max_records
        )
