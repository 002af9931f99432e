"""The trigger contract: storage of conditions, trigger definitions and satisfied conditions, the
cron last-run compare-and-set and the trigger-run claim (each fires exactly once across any
number of racing runners), and event and run records purged by age and by count."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial

from pynenc.app import Pynenc
from pynenc.testing.harness import ConformanceHarness, ConformanceTests, race
from pynenc.trigger.base_trigger import EventRecord
from pynenc.util.clock import FakeClock

RACERS = 16
RACE_ROUNDS = 5


def _id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def _event(clock: FakeClock, code: str = "order.created") -> EventRecord:
    return EventRecord(_id("event"), code, '{"order": 1}', clock.now())


def _claim_tick(app: Pynenc, condition: str, tick: datetime, _: int) -> bool:
    return app.trigger.claim_cron_tick(condition, tick)


def _claim_run(app: Pynenc, run: str, trigger_id: str, _: int) -> bool:
    return app.trigger.claim_trigger_run(run, trigger_id)


class TriggerContract(ConformanceTests):
    """What ``trigger_cls`` stores and the atomic claims it performs."""

    contract = "trigger"

    # ------------------------------------------------------------------ conditions and triggers

    def test_conditions_round_trip(self, app: Pynenc) -> None:
        trigger = app.trigger
        first, second = _id("condition"), _id("condition")
        trigger._store_condition(first, '{"cron": "* * * * *"}')
        trigger._store_condition(second, '{"event": "x"}')
        trigger._store_condition(first, '{"cron": "*/5 * * * *"}')
        assert trigger._get_condition(first) == '{"cron": "*/5 * * * *"}'
        assert trigger._get_condition(_id("condition")) is None
        assert trigger._get_all_conditions() == {
            first: '{"cron": "*/5 * * * *"}',
            second: '{"event": "x"}',
        }

    def test_triggers_are_stored_and_indexed_by_condition(self, app: Pynenc) -> None:
        trigger = app.trigger
        shared, only_first = _id("condition"), _id("condition")
        first, second = _id("trigger"), _id("trigger")
        trigger._store_trigger(first, '{"t": 1}', [shared, only_first])
        trigger._store_trigger(second, '{"t": 2}', [shared])
        assert trigger._get_trigger(first) == '{"t": 1}'
        assert sorted(trigger._get_trigger_ids_for_condition(shared)) == sorted([first, second])
        assert trigger._get_trigger_ids_for_condition(only_first) == [first]
        assert trigger._get_trigger_ids_for_condition(_id("condition")) == []

    def test_storing_a_trigger_again_indexes_it_once(self, app: Pynenc) -> None:
        condition, trigger_id = _id("condition"), _id("trigger")
        app.trigger._store_trigger(trigger_id, "{}", [condition])
        app.trigger._store_trigger(trigger_id, '{"v": 2}', [condition])
        assert app.trigger._get_trigger_ids_for_condition(condition) == [trigger_id]
        assert app.trigger._get_trigger(trigger_id) == '{"v": 2}'

    def test_a_removed_trigger_is_gone_from_every_condition(self, app: Pynenc) -> None:
        trigger = app.trigger
        condition, kept, removed = _id("condition"), _id("trigger"), _id("trigger")
        trigger._store_trigger(kept, "{}", [condition])
        trigger._store_trigger(removed, "{}", [condition])
        trigger._remove_trigger(removed)
        assert trigger._get_trigger(removed) is None
        assert trigger._get_trigger_ids_for_condition(condition) == [kept]

    # ------------------------------------------------------------------ valid conditions

    def test_valid_conditions_are_returned_oldest_first_up_to_the_limit(self, app: Pynenc) -> None:
        entries = [(_id("valid"), _id("condition"), f'{{"n": {i}}}') for i in range(4)]
        for entry in entries:
            app.trigger._add_valid_conditions([entry])
        assert app.trigger._get_valid_conditions(10) == entries
        assert app.trigger._get_valid_conditions(2) == entries[:2]

    def test_removed_valid_conditions_are_not_returned(self, app: Pynenc) -> None:
        entries = [(_id("valid"), _id("condition"), "{}") for _ in range(3)]
        app.trigger._add_valid_conditions(entries)
        app.trigger._remove_valid_conditions([entries[0][0], entries[2][0]])
        assert app.trigger._get_valid_conditions(10) == [entries[1]]

    # ------------------------------------------------------------------ cron compare-and-set

    def test_a_cron_tick_is_claimed_once(self, clocked_app: Pynenc, fake_clock: FakeClock) -> None:
        condition, tick = _id("cron"), fake_clock.now()
        assert clocked_app.trigger.claim_cron_tick(condition, tick)
        assert not clocked_app.trigger.claim_cron_tick(condition, tick)
        assert clocked_app.trigger._get_cron_last_run(condition) == tick

    def test_a_later_cron_tick_supersedes_an_earlier_one(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        condition, first = _id("cron"), fake_clock.now()
        later = first + timedelta(minutes=1)
        assert clocked_app.trigger.claim_cron_tick(condition, first)
        assert clocked_app.trigger.claim_cron_tick(condition, later)
        assert not clocked_app.trigger.claim_cron_tick(condition, first), (
            "an earlier cron tick must not fire after a later one"
        )
        assert clocked_app.trigger._get_cron_last_run(condition) == later

    def test_the_cron_compare_and_set_needs_the_expected_last_run(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        trigger, condition, now = clocked_app.trigger, _id("cron"), fake_clock.now()
        assert trigger._cas_cron_last_run(condition, None, now)
        assert not trigger._cas_cron_last_run(condition, None, now + timedelta(minutes=1))
        wrong = now - timedelta(minutes=1)
        assert not trigger._cas_cron_last_run(condition, wrong, now + timedelta(minutes=1))
        assert trigger._get_cron_last_run(condition) == now

    def test_exactly_one_runner_may_fire_a_cron_tick(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        harness.require("concurrent_access")
        condition = _id("cron")
        for round_number in range(RACE_ROUNDS):
            tick = fake_clock.now() + timedelta(minutes=round_number + 1)
            won = race(RACERS, partial(_claim_tick, clocked_app, condition, tick))
            assert won.count(True) == 1, (
                f"exactly one runner may fire a cron tick: {won.count(True)} of {RACERS} racing "
                "runners claimed the same tick (the last-run update must be compare-and-set)"
            )

    # ------------------------------------------------------------------ trigger-run claims

    def test_a_trigger_run_is_claimed_once(self, app: Pynenc) -> None:
        run, trigger_id = _id("run"), _id("trigger")
        assert app.trigger.claim_trigger_run(run, trigger_id)
        assert not app.trigger.claim_trigger_run(run, trigger_id)
        assert app.trigger.claim_trigger_run(_id("run"), trigger_id)

    def test_exactly_one_runner_may_claim_a_trigger_run(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        harness.require("concurrent_access")
        trigger_id = _id("trigger")
        for _ in range(RACE_ROUNDS):
            won = race(RACERS, partial(_claim_run, app, _id("run"), trigger_id))
            assert won.count(True) == 1, (
                f"exactly one runner may claim a trigger run: {won.count(True)} of {RACERS} "
                "racing runners claimed it"
            )

    def test_a_claimed_run_records_the_invocations_it_created(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        trigger, run, trigger_id = clocked_app.trigger, _id("run"), _id("trigger")
        trigger.claim_trigger_run(run, trigger_id)
        trigger._record_trigger_run_invocations(run, ["inv-1"])
        trigger._record_trigger_run_invocations(run, ["inv-2", "inv-3"])
        record = trigger._get_trigger_run(run)
        assert record is not None
        assert (record.trigger_id, record.claimed_at) == (trigger_id, fake_clock.now())
        assert record.invocation_ids == ("inv-1", "inv-2", "inv-3")
        assert trigger._get_trigger_run(_id("run")) is None

    # ------------------------------------------------------------------ events and purging

    def test_events_round_trip(self, clocked_app: Pynenc, fake_clock: FakeClock) -> None:
        event = _event(fake_clock)
        clocked_app.trigger._store_event(event)
        assert clocked_app.trigger._get_event(event.event_id) == event
        assert clocked_app.trigger._get_event(_id("event")) is None

    def test_records_older_than_the_retention_are_purged(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            event_retention_hours=1.0,
            trigger_run_retention_hours=1.0,
            event_max_records=0,
            trigger_run_max_records=0,
        )
        trigger = app.trigger
        old_event, old_run = _event(fake_clock), _id("run")
        trigger._store_event(old_event)
        trigger.claim_trigger_run(old_run, _id("trigger"))
        fake_clock.advance(2 * 3600)
        new_event, new_run = _event(fake_clock), _id("run")
        trigger._store_event(new_event)
        trigger.claim_trigger_run(new_run, _id("trigger"))

        trigger.purge_old_records()

        assert trigger._get_event(old_event.event_id) is None
        assert trigger._get_trigger_run(old_run) is None
        assert trigger._get_event(new_event.event_id) == new_event
        assert trigger._get_trigger_run(new_run) is not None

    def test_records_beyond_the_max_count_are_purged_oldest_first(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            event_retention_hours=1000.0,
            trigger_run_retention_hours=1000.0,
            event_max_records=2,
            trigger_run_max_records=2,
        )
        trigger = app.trigger
        events, runs = [], []
        for _ in range(4):
            events.append(_event(fake_clock))
            trigger._store_event(events[-1])
            runs.append(_id("run"))
            trigger.claim_trigger_run(runs[-1], _id("trigger"))
            fake_clock.advance(60)

        trigger.purge_old_records()

        assert [trigger._get_event(e.event_id) is not None for e in events] == [
            False,
            False,
            True,
            True,
        ]
        assert [trigger._get_trigger_run(r) is not None for r in runs] == [
            False,
            False,
            True,
            True,
        ]

    def test_a_retention_of_zero_keeps_records_of_any_age(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            event_retention_hours=0.0,
            trigger_run_retention_hours=0.0,
            event_max_records=0,
            trigger_run_max_records=0,
        )
        event, run = _event(fake_clock), _id("run")
        app.trigger._store_event(event)
        app.trigger.claim_trigger_run(run, _id("trigger"))
        fake_clock.advance(10 * 365 * 24 * 3600)
        app.trigger.purge_old_records()
        assert app.trigger._get_event(event.event_id) == event
        assert app.trigger._get_trigger_run(run) is not None

    def test_purge_deletes_everything_of_the_app_only(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        mine, theirs = harness.new_app(clock=fake_clock), harness.new_app(clock=fake_clock)
        condition = _id("condition")
        for app in (mine, theirs):
            app.trigger._store_condition(condition, "{}")
            app.trigger.claim_cron_tick(condition, fake_clock.now())
        mine.trigger.purge()
        assert mine.trigger._get_all_conditions() == {}
        assert mine.trigger._get_cron_last_run(condition) is None
        assert theirs.trigger._get_condition(condition) == "{}"
        assert theirs.trigger._get_cron_last_run(condition) == fake_clock.now()
