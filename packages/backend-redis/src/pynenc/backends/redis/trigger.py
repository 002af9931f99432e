"""Redis trigger storage: conditions, trigger definitions, satisfied conditions, cron last runs,
trigger runs and events of an app.

The cron compare-and-set and the trigger-run claim are one script each (``HSETNX`` for the
claim), so exactly one caller wins however many runners race.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.backends.redis.codec import dumps, from_micros, to_micros
from pynenc.backends.redis.conf import ConfigTriggerRedis
from pynenc.backends.redis.store import RedisStore
from pynenc.trigger.base_trigger import BaseTrigger, EventRecord, TriggerRunRecord

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class RedisTrigger(BaseTrigger):
    """What the trigger loop needs, shared by every process configured with the same server
    and app id."""

    config_cls: ClassVar[type[ConfigTriggerRedis]] = ConfigTriggerRedis
    conf: ConfigTriggerRedis
    cross_process: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)

    def _key(self, *parts: str) -> str:
        return self.store.key("t", *parts)

    # ---- conditions and trigger definitions

    def _store_condition(self, condition_id: str, serialized: str) -> None:
        self.store.hset(self._key("cond"), condition_id, serialized)

    def _get_condition(self, condition_id: str) -> str | None:
        return self.store.hget(self._key("cond"), condition_id)

    def _get_all_conditions(self) -> dict[str, str]:
        return self.store.hgetall(self._key("cond"))

    def _store_trigger(
        self, trigger_id: str, serialized: str, condition_ids: Sequence[str]
    ) -> None:
        self.store.script(
            "trigger_store", [self.store.prefix, trigger_id, serialized, *condition_ids]
        )

    def _get_trigger(self, trigger_id: str) -> str | None:
        return self.store.hget(self._key("trig"), trigger_id)

    def _get_trigger_ids_for_condition(self, condition_id: str) -> list[str]:
        return self.store.zrange(self._key("ct", condition_id))

    def _remove_trigger(self, trigger_id: str) -> None:
        self.store.script("trigger_remove", [self.store.prefix, trigger_id])

    # ---- satisfied conditions

    def _add_valid_conditions(self, entries: Sequence[tuple[str, str, str]]) -> None:
        if entries:
            self.store.script(
                "trigger_valid", [self.store.prefix, *(part for entry in entries for part in entry)]
            )

    def _get_valid_conditions(self, limit: int) -> list[tuple[str, str, str]]:
        ids = self.store.zrange(self._key("vorder"), 0, limit - 1)
        if not ids:
            return []
        stored = self.store.hmget(self._key("valid"), ids)
        found = []
        for valid_id, value in zip(ids, stored, strict=True):
            if value is not None:
                condition_id, context = json.loads(value)
                found.append((valid_id, condition_id, context))
        return found

    def _remove_valid_conditions(self, valid_condition_ids: Sequence[str]) -> None:
        if not valid_condition_ids:
            return
        ids = list(valid_condition_ids)

        def remove(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.zrem(self._key("vorder"), *ids)
            pipe.hdel(self._key("valid"), *ids)
            pipe.execute()

        self.store.run(remove)

    # ---- atomic steps

    def _cas_cron_last_run(
        self, condition_id: str, expected: datetime | None, new: datetime
    ) -> bool:
        expected_micros = "" if expected is None else str(to_micros(expected))
        return bool(
            self.store.script(
                "trigger_cron",
                [self.store.prefix, condition_id, expected_micros, to_micros(new)],
            )
        )

    def _get_cron_last_run(self, condition_id: str) -> datetime | None:
        value = self.store.hget(self._key("cron"), condition_id)
        return None if value is None else from_micros(value)

    def _claim_trigger_run(self, trigger_run_id: str, trigger_id: str, now: datetime) -> bool:
        return bool(
            self.store.script(
                "trigger_claim", [self.store.prefix, trigger_run_id, trigger_id, to_micros(now)]
            )
        )

    def _reclaim_trigger_run(
        self, trigger_run_id: str, claimed_at: datetime, now: datetime
    ) -> bool:
        return bool(
            self.store.script(
                "trigger_reclaim",
                [self.store.prefix, trigger_run_id, to_micros(claimed_at), to_micros(now)],
            )
        )

    def _record_trigger_run_invocations(
        self, trigger_run_id: str, invocation_ids: Sequence[str]
    ) -> None:
        if invocation_ids:
            self.store.script(
                "trigger_run_invocations", [self.store.prefix, trigger_run_id, *invocation_ids]
            )

    def _get_trigger_run(self, trigger_run_id: str) -> TriggerRunRecord | None:
        value = self.store.hget(self._key("run"), trigger_run_id)
        if value is None:
            return None
        trigger_id, claimed_at, invocation_ids = json.loads(value)
        ids = tuple(invocation_ids) if isinstance(invocation_ids, list) else ()
        return TriggerRunRecord(trigger_run_id, trigger_id, from_micros(claimed_at), ids)

    def _add_trigger_run_sources(self, trigger_run_id: str, source_ids: Sequence[str]) -> None:
        if source_ids:
            self.store.script("trigger_sources", [self.store.prefix, trigger_run_id, *source_ids])

    def _get_trigger_run_ids_for_source(self, source_id: str) -> list[str]:
        return self.store.zrange(self._key("src", source_id))

    # ---- events

    def _store_event(self, event: EventRecord) -> None:
        emitted = to_micros(event.emitted_at)
        encoded = dumps([event.event_code, event.payload, emitted])

        def write(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.hset(self._key("ev"), event.event_id, encoded)
            pipe.zadd(self._key("evs"), {event.event_id: emitted})
            pipe.execute()

        self.store.run(write)

    def _get_event(self, event_id: str) -> EventRecord | None:
        value = self.store.hget(self._key("ev"), event_id)
        if value is None:
            return None
        code, payload, emitted = json.loads(value)
        return EventRecord(event_id, code, payload, from_micros(emitted))

    def _purge_records(
        self, events_before: datetime, runs_before: datetime, max_events: int, max_runs: int
    ) -> None:
        self.store.script(
            "trigger_purge",
            [
                self.store.prefix,
                to_micros(events_before),
                to_micros(runs_before),
                max_events,
                max_runs,
            ],
        )

    def purge(self) -> None:
        self.store.delete_matching("t:*")
