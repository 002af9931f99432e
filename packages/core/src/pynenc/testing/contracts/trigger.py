"""The trigger contract: storage of conditions, trigger definitions and satisfied conditions, the
cron last-run compare-and-set and the trigger-run claim (each fires exactly once across any
number of racing runners), event and run records purged by age and by count; then the trigger
behaviour built on them (cron, events, status, result and exception conditions, AND/OR), driven
by :class:`pynenc.trigger.trigger_service.TriggerLoop` passes on the backend under test."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.exceptions import InvalidEventError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.base_invocation import BaseInvocation
from pynenc.invocation.status import InvocationStatus
from pynenc.orchestrator.base_orchestrator import InvocationQuery
from pynenc.testing import trigger_tasks
from pynenc.testing.harness import (
    RUNNER_CONFIG,
    WAIT_SECONDS,
    ConformanceHarness,
    ConformanceTests,
    race,
    wait_until,
)
from pynenc.trigger.base_trigger import EventRecord, TriggerRunRecord
from pynenc.trigger.trigger_service import TriggerLoop
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


def _reclaim_run(app: Pynenc, run: TriggerRunRecord, _: int) -> bool:
    return app.trigger.reclaim_trigger_run(run)


# ---------------------------------------------------------------------------------- behaviour


def _loop_pass(app: Pynenc, _: int = 0) -> list[InvocationId]:
    return TriggerLoop(app).run_pass().fired


def _retention_app(
    harness: ConformanceHarness,
    clock: FakeClock,
    event_hours: float,
    run_hours: float,
    max_events: int = 0,
    max_runs: int = 0,
) -> Pynenc:
    return harness.new_app(
        clock=clock,
        event_retention_hours=event_hours,
        trigger_run_retention_hours=run_hours,
        event_max_records=max_events,
        trigger_run_max_records=max_runs,
    )


def _store_event_and_run(app: Pynenc, clock: FakeClock) -> tuple[EventRecord, str]:
    event, run = _event(clock), _id("run")
    app.trigger._store_event(event)
    app.trigger.claim_trigger_run(run, _id("trigger"))
    return event, run


def _pass_dying_in(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch, component: object, method: str
) -> None:
    """A loop pass whose runner dies in ``component.method`` (it raises ConnectionError)."""

    def dying(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError(f"the runner died in {method}")

    monkeypatch.setattr(component, method, dying)
    with pytest.raises(ConnectionError):
        _loop_pass(app)
    monkeypatch.undo()


def _paid_orders(app: Pynenc, fired: list[InvocationId]) -> list[InvocationId]:
    """The invocations of ``on_paid_order`` among ``fired`` (a cron trigger of the same module
    fires too when a test moves the clock on)."""
    task_id = trigger_tasks.on_paid_order.task_id
    return [
        inv.invocation_id
        for inv in app.state_backend.get_invocations(fired)
        if inv.task.task_id == task_id
    ]


class TriggerBehaviourScenarios:
    """Triggers evaluated on the backend under test: each condition kind fires its task once.
    A mixin of :class:`TriggerContract` (it needs the fixtures of ``ConformanceTests``)."""

    @pytest.fixture
    def trigger_app(self, harness: ConformanceHarness, fake_clock: FakeClock) -> Pynenc:
        """A clocked app whose triggers (of :mod:`pynenc.testing.trigger_tasks`) are stored."""
        app = harness.new_app(clock=fake_clock, **trigger_tasks.TRIGGER_CONFIG)
        app.trigger.register_task_triggers()
        return app

    def _finish(
        self, harness: ConformanceHarness, app: Pynenc, invocation: BaseInvocation[Any, Any]
    ) -> None:
        """Take the invocation through PENDING and RUNNING to its outcome, as a runner does."""
        ctx = harness.runner_context()
        orchestrator = app.orchestrator
        orchestrator.set_invocation_status(invocation.invocation_id, InvocationStatus.PENDING, ctx)
        orchestrator.set_invocation_run(invocation.invocation_id, ctx)
        try:
            result = invocation.task.run_function(invocation.call.arguments)
        except Exception as exc:  # noqa: BLE001 - the task's failure is its outcome
            orchestrator.set_invocation_exception(invocation.invocation_id, exc, ctx)
        else:
            orchestrator.set_invocation_result(invocation.invocation_id, result, ctx)

    # ------------------------------------------------------------------ declaration

    def test_registering_stores_every_condition_and_trigger(self, trigger_app: Pynenc) -> None:
        definitions = trigger_app.trigger.definitions()
        stored = trigger_app.trigger._get_all_conditions()
        assert definitions, "the trigger tasks module declares triggers"
        for definition in definitions.values():
            assert trigger_app.trigger._get_trigger(definition.trigger_id) is not None
            for condition_id in definition.condition_ids:
                assert condition_id in stored, "every condition of a trigger is stored"
                assert definition.trigger_id in trigger_app.trigger._get_trigger_ids_for_condition(
                    condition_id
                )

    # ------------------------------------------------------------------ events

    def test_an_event_fires_its_triggered_task_once(self, trigger_app: Pynenc) -> None:
        event_id = trigger_app.trigger.emit_event("conformance.order", {"order": 7, "kind": "paid"})
        fired = _loop_pass(trigger_app) + _loop_pass(trigger_app)
        assert len(fired) == 1, "one event fires its triggered task exactly once"
        [invocation] = trigger_app.state_backend.get_invocations(fired)
        assert invocation.task.task_id == trigger_tasks.on_paid_order.task_id
        assert invocation.call.arguments == {"order": 7, "kind": "paid"}
        assert trigger_app.trigger.get_invocations_for_event(event_id) == fired

    def test_an_event_is_stored_with_its_payload(self, trigger_app: Pynenc) -> None:
        event_id = trigger_app.trigger.emit_event("conformance.unwatched", {"n": 1})
        event = trigger_app.trigger.get_event(event_id)
        assert event is not None and event.event_code == "conformance.unwatched"
        assert trigger_app.trigger.get_event_payload(event_id) == {"n": 1}
        assert _loop_pass(trigger_app) == [], "an event nobody listens to fires nothing"

    def test_an_event_payload_filter_selects_the_events(self, trigger_app: Pynenc) -> None:
        trigger_app.trigger.emit_event("conformance.order", {"order": 1, "kind": "refunded"})
        assert _loop_pass(trigger_app) == [], "a payload the filter rejects fires nothing"

    def test_an_event_fires_once_however_many_loops_race_on_it(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        harness.require("concurrent_access")
        trigger_app.trigger.emit_event("conformance.order", {"order": 2, "kind": "paid"})
        fired = [i for ids in race(RACERS // 2, partial(_loop_pass, trigger_app)) for i in ids]
        assert len(fired) == 1, (
            f"exactly one runner may fire an event's trigger: {len(fired)} invocations from "
            f"{RACERS // 2} racing trigger loops (the trigger-run claim must be atomic)"
        )

    def test_a_firing_interrupted_after_its_claim_fires_later_exactly_once(
        self, trigger_app: Pynenc, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The runner that claimed the run died (here: its registration failed) before the
        invocation existed: the event is kept, and fired once the claim timed out."""
        event_id = trigger_app.trigger.emit_event("conformance.order", {"order": 9, "kind": "paid"})
        _pass_dying_in(trigger_app, monkeypatch, trigger_app.orchestrator, "register_and_route")
        assert _loop_pass(trigger_app) == [], "a run claimed moments ago may still be firing"
        fake_clock.advance(trigger_app.trigger.conf.trigger_run_claim_timeout_seconds + 1)
        fired = _paid_orders(trigger_app, _loop_pass(trigger_app) + _loop_pass(trigger_app))
        assert len(fired) == 1, "the abandoned firing happens once, after the claim timeout"
        assert trigger_app.trigger.get_invocations_for_event(event_id) == fired
        fake_clock.advance(trigger_app.trigger.conf.trigger_run_claim_timeout_seconds + 1)
        assert _paid_orders(trigger_app, _loop_pass(trigger_app)) == [], (
            "a fired run is never fired again"
        )

    def test_a_firing_registered_but_not_recorded_is_recorded_not_fired_again(
        self, trigger_app: Pynenc, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The runner died after registering the invocation and before recording it on the
        run: once the claim timed out, the next pass finds that invocation and records it."""
        event_id = trigger_app.trigger.emit_event("conformance.order", {"order": 8, "kind": "paid"})
        trigger = trigger_app.trigger
        _pass_dying_in(trigger_app, monkeypatch, trigger, "_record_trigger_run_invocations")
        registered = trigger_app.orchestrator.query_invocations(
            InvocationQuery(task_ids=frozenset({trigger_tasks.on_paid_order.task_id.key}))
        ).invocation_ids
        assert len(registered) == 1
        fake_clock.advance(trigger.conf.trigger_run_claim_timeout_seconds + 1)
        assert _paid_orders(trigger_app, _loop_pass(trigger_app) + _loop_pass(trigger_app)) == []
        assert trigger.get_invocations_for_event(event_id) == registered, (
            "the invocation the first attempt registered is recorded, and no second one made"
        )

    def test_a_payload_the_serializer_cannot_store_is_refused(self, trigger_app: Pynenc) -> None:
        with pytest.raises(InvalidEventError, match="cannot be serialized"):
            trigger_app.trigger.emit_event("conformance.order", {"lock": object()})
        with pytest.raises(InvalidEventError, match="dict with string keys"):
            trigger_app.trigger.emit_event("conformance.order", ["not", "a", "mapping"])  # type: ignore[arg-type]
        assert _loop_pass(trigger_app) == []

    # ------------------------------------------------------------------ cron

    def test_a_cron_trigger_does_not_fire_for_a_tick_before_it_was_registered(
        self, trigger_app: Pynenc
    ) -> None:
        assert _loop_pass(trigger_app) == []

    def test_a_cron_tick_fires_its_task_once(
        self, trigger_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        fake_clock.advance(60)
        fired = _loop_pass(trigger_app) + _loop_pass(trigger_app)
        assert len(fired) == 1, "one cron tick fires its task exactly once"
        [invocation] = trigger_app.state_backend.get_invocations(fired)
        assert invocation.call.arguments == {"tick": fake_clock.now().replace(second=0)}

    def test_a_cron_tick_fires_once_however_many_loops_race_on_it(
        self, harness: ConformanceHarness, trigger_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        harness.require("concurrent_access")
        for _ in range(RACE_ROUNDS):
            fake_clock.advance(60)
            fired = [i for ids in race(RACERS // 2, partial(_loop_pass, trigger_app)) for i in ids]
            assert len(fired) == 1, (
                f"exactly one runner may fire a cron tick: {len(fired)} invocations from "
                f"{RACERS // 2} racing trigger loops (compare-and-set on the tick time)"
            )

    def test_ticks_missed_while_nobody_evaluated_fire_once_late(
        self, trigger_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        fake_clock.advance(10 * 60 + 30)
        fired = _loop_pass(trigger_app)
        assert len(fired) == 1, "ten missed ticks coalesce into one late firing, never a burst"
        [invocation] = trigger_app.state_backend.get_invocations(fired)
        assert invocation.call.arguments["tick"] == fake_clock.now().replace(second=0)

    # ------------------------------------------------------------------ other tasks

    def test_a_status_condition_fires_when_a_matching_call_reaches_the_status(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        watched = harness.register(trigger_app, trigger_tasks.source, 7)
        ignored = harness.register(trigger_app, trigger_tasks.source, 8)
        self._finish(harness, trigger_app, watched)
        self._finish(harness, trigger_app, ignored)
        fired = _loop_pass(trigger_app)
        invocations = trigger_app.state_backend.get_invocations(fired)
        running = [
            i for i in invocations if i.task.task_id == trigger_tasks.on_source_running.task_id
        ]
        assert [i.call.arguments for i in running] == [{"seen": "RUNNING:7"}], (
            "the status trigger fires once, for the call its argument filter selects"
        )
        assert [
            r.trigger_id
            for r in trigger_app.trigger.get_trigger_runs_for_source(watched.invocation_id)
        ], "the run is linked to the source invocation"

    def test_a_result_condition_fires_only_for_results_its_filter_accepts(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        for value in (3, 12):
            self._finish(
                harness, trigger_app, harness.register(trigger_app, trigger_tasks.source, value)
            )
        fired = trigger_app.state_backend.get_invocations(_loop_pass(trigger_app))
        big = [i for i in fired if i.task.task_id == trigger_tasks.on_big_result.task_id]
        assert [i.call.arguments for i in big] == [{"result": 120}]

    def test_an_exception_condition_fires_for_its_exception_type_only(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        for kind in ("other", "watched"):
            self._finish(
                harness,
                trigger_app,
                harness.register(trigger_app, trigger_tasks.source_fails, kind),
            )
        fired = trigger_app.state_backend.get_invocations(_loop_pass(trigger_app))
        assert [i.call.arguments for i in fired] == [{"msg": "watched"}]

    def test_an_and_trigger_waits_for_every_condition_then_fires_once(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        self._finish(harness, trigger_app, harness.task(trigger_tasks.and_source_a, trigger_app)())
        assert _loop_pass(trigger_app) == [], "an AND trigger waits for all its conditions"
        self._finish(harness, trigger_app, harness.task(trigger_tasks.and_source_b, trigger_app)())
        fired = _loop_pass(trigger_app) + _loop_pass(trigger_app)
        [invocation] = trigger_app.state_backend.get_invocations(fired)
        assert invocation.call.arguments == {"parts": ["a", "b"]}
        self._finish(harness, trigger_app, harness.task(trigger_tasks.and_source_b, trigger_app)())
        assert _loop_pass(trigger_app) == [], "after firing, an AND trigger starts over"

    def test_unwatched_tasks_record_no_condition(
        self, harness: ConformanceHarness, trigger_app: Pynenc
    ) -> None:
        from pynenc.testing import tasks

        self._finish(harness, trigger_app, harness.register(trigger_app, tasks.add, 1, 2))
        assert trigger_app.trigger._get_valid_conditions(10) == []

    # ------------------------------------------------------------------ records

    def test_purging_old_runs_drops_their_source_links(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            trigger_run_retention_hours=1.0,
            event_retention_hours=1.0,
            **trigger_tasks.TRIGGER_CONFIG,
        )
        app.trigger.register_task_triggers()
        event_id = app.trigger.emit_event("conformance.order", {"order": 3, "kind": "paid"})
        assert len(_loop_pass(app)) == 1
        fake_clock.advance(2 * 3600)
        app.trigger.purge_old_records()
        assert app.trigger.get_event(event_id) is None
        assert app.trigger.get_trigger_runs_for_source(event_id) == []

    # ------------------------------------------------------------------ with a runner

    def test_a_runner_fires_an_emitted_event_through_its_atomic_service_slot(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(
            atomic_service_interval_minutes=0.05,
            atomic_service_check_interval_minutes=0.002,
            atomic_service_spread_margin_minutes=0.0,
            trigger_loop_interval_seconds=0.05,
            **RUNNER_CONFIG,
            **trigger_tasks.TRIGGER_CONFIG,
        )
        harness.start_runner(app)
        event_id = app.trigger.emit_event("conformance.order", {"order": 9, "kind": "paid"})
        wait_until(
            lambda: app.trigger.get_invocations_for_event(event_id),
            "the runner's trigger loop must fire the event's task",
        )
        [invocation_id] = app.trigger.get_invocations_for_event(event_id)
        assert app.state_backend.get_invocation(invocation_id).wait(WAIT_SECONDS) == 9


class TriggerContract(ConformanceTests, TriggerBehaviourScenarios):
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

    def test_an_abandoned_run_is_claimed_again_once_after_the_claim_timeout(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        trigger, run_id = clocked_app.trigger, _id("run")
        trigger.claim_trigger_run(run_id, _id("trigger"))
        first = trigger.get_trigger_run(run_id)
        assert first is not None
        assert not trigger.reclaim_trigger_run(first), "a run claimed just now is not abandoned"
        fake_clock.advance(trigger.conf.trigger_run_claim_timeout_seconds + 1)
        assert trigger.reclaim_trigger_run(first), "a run without invocation past the timeout"
        assert not trigger.reclaim_trigger_run(first), (
            "a run is claimed again once: the reclaim must compare-and-set its claim time"
        )
        again = trigger.get_trigger_run(run_id)
        assert again is not None and again.claimed_at == fake_clock.now()

    def test_a_run_that_created_its_invocation_is_never_claimed_again(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        trigger, run_id = clocked_app.trigger, _id("run")
        trigger.claim_trigger_run(run_id, _id("trigger"))
        claimed = trigger.get_trigger_run(run_id)
        trigger._record_trigger_run_invocations(run_id, ["inv-1"])
        fake_clock.advance(trigger.conf.trigger_run_claim_timeout_seconds + 1)
        assert claimed is not None
        assert not trigger._reclaim_trigger_run(run_id, claimed.claimed_at, fake_clock.now()), (
            "a run that recorded its invocation must not be claimed again, even with its "
            "original claim time"
        )

    def test_exactly_one_runner_may_claim_an_abandoned_run_again(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        harness.require("concurrent_access")
        trigger = clocked_app.trigger
        for _ in range(RACE_ROUNDS):
            run_id = _id("run")
            trigger.claim_trigger_run(run_id, _id("trigger"))
            fake_clock.advance(trigger.conf.trigger_run_claim_timeout_seconds + 1)
            abandoned = trigger.get_trigger_run(run_id)
            assert abandoned is not None
            won = race(RACERS, partial(_reclaim_run, clocked_app, abandoned))
            assert won.count(True) == 1, (
                f"exactly one runner may claim an abandoned run again: {won.count(True)} of "
                f"{RACERS} did"
            )
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
        app = _retention_app(harness, fake_clock, 1.0, 1.0)
        trigger = app.trigger
        old_event, old_run = _store_event_and_run(app, fake_clock)
        fake_clock.advance(2 * 3600)
        new_event, new_run = _store_event_and_run(app, fake_clock)

        trigger.purge_old_records()

        assert trigger._get_event(old_event.event_id) is None
        assert trigger._get_trigger_run(old_run) is None
        assert trigger._get_event(new_event.event_id) == new_event
        assert trigger._get_trigger_run(new_run) is not None

    def test_event_and_run_retentions_apply_each_to_their_own_records(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = _retention_app(harness, fake_clock, 1.0, 24.0)
        trigger = app.trigger
        event, run = _store_event_and_run(app, fake_clock)
        fake_clock.advance(2 * 3600)

        trigger.purge_old_records()

        assert trigger._get_event(event.event_id) is None, "events are kept 1 hour"
        assert trigger._get_trigger_run(run) is not None, (
            "runs are kept 24 hours: the shorter event retention must not purge them"
        )

    def test_records_beyond_the_max_count_are_purged_oldest_first(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = _retention_app(harness, fake_clock, 1000.0, 1000.0, max_events=2, max_runs=2)
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
        app = _retention_app(harness, fake_clock, 0.0, 0.0)
        event, run = _store_event_and_run(app, fake_clock)
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
