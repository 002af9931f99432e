"""The broker contract: every routed invocation id is delivered exactly once, best priority first
and FIFO within a priority, from named queues, never before its "not before" time, and blocking
retrieval wakes as soon as work arrives."""

from __future__ import annotations

import threading
import time

from pynenc.app import Pynenc
from pynenc.broker.base_broker import BaseBroker, BrokerMessage
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.testing.harness import ConformanceHarness, ConformanceTests, race
from pynenc.util.clock import FakeClock

CONSUMERS = 8
MESSAGES_PER_CONSUMER = 25


def _ids(count: int) -> list[InvocationId]:
    return [new_invocation_id() for _ in range(count)]


def drain(broker: BaseBroker, queues: list[str] | None = None) -> list[InvocationId]:
    """Everything due now, in delivery order, without waiting."""
    delivered: list[InvocationId] = []
    while True:
        batch = broker.retrieve_invocations(100, queues, timeout=0)
        if not batch:
            return delivered
        delivered.extend(batch)


class BrokerContract(ConformanceTests):
    """Queues, priorities, delays and blocking retrieval of ``broker_cls``."""

    contract = "broker"

    def test_every_routed_invocation_is_delivered_exactly_once(self, app: Pynenc) -> None:
        ids = _ids(30)
        for invocation_id in ids[:10]:
            app.broker.route_invocation(invocation_id)
        app.broker.route_invocations([BrokerMessage(i) for i in ids[10:]])
        delivered = drain(app.broker)
        missing = set(ids) - set(delivered)
        assert not missing and len(delivered) == len(ids), (
            f"every routed invocation is delivered exactly once: {len(missing)} of {len(ids)} "
            f"lost, {len(delivered) - len(set(delivered))} delivered twice"
        )

    def test_invocations_of_one_priority_are_delivered_first_in_first_out(
        self, app: Pynenc
    ) -> None:
        ids = _ids(6)
        for invocation_id in ids[:3]:
            app.broker.route_invocation(invocation_id)
        app.broker.route_invocations([BrokerMessage(i) for i in ids[3:]])
        assert drain(app.broker) == ids, "invocations of one priority are delivered FIFO"

    def test_higher_priority_is_delivered_first(self, app: Pynenc) -> None:
        low, high, middle, high2 = _ids(4)
        app.broker.route_invocations(
            [
                BrokerMessage(low, priority=0),
                BrokerMessage(high, priority=5),
                BrokerMessage(middle, priority=1),
                BrokerMessage(high2, priority=5),
            ]
        )
        assert drain(app.broker) == [high, high2, middle, low]

    def test_retrieval_never_returns_more_than_asked(self, app: Pynenc) -> None:
        app.broker.route_invocations([BrokerMessage(i) for i in _ids(5)])
        assert len(app.broker.retrieve_invocations(2, timeout=0)) <= 2
        assert app.broker.retrieve_invocations(0, timeout=0) == []

    def test_named_queues_are_isolated(self, app: Pynenc) -> None:
        fast, slow = _ids(2)
        app.broker.route_invocations([BrokerMessage(fast, "fast"), BrokerMessage(slow, "slow")])
        assert drain(app.broker, ["fast"]) == [fast]
        assert drain(app.broker, ["fast"]) == []
        assert app.broker.count_invocations("slow") == 1
        assert drain(app.broker, ["slow", "other"]) == [slow]

    def test_retrieving_from_every_queue_sees_all_queues(self, app: Pynenc) -> None:
        ids = _ids(3)
        app.broker.route_invocations(
            [BrokerMessage(i, queue) for i, queue in zip(ids, ["a", "b", "default"], strict=True)]
        )
        assert sorted(drain(app.broker)) == sorted(ids)

    def test_queue_depth_counts_per_queue_and_in_total(self, app: Pynenc) -> None:
        app.broker.route_invocations(
            [BrokerMessage(i, "a") for i in _ids(2)] + [BrokerMessage(i, "b") for i in _ids(3)]
        )
        assert app.broker.count_invocations("a") == 2
        assert app.broker.count_invocations("b") == 3
        assert app.broker.count_invocations() == 5
        drain(app.broker, ["b"])
        assert app.broker.count_invocations() == 2

    def test_a_delayed_invocation_is_not_delivered_before_its_time(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        (delayed,) = _ids(1)
        clocked_app.broker.route_invocation(delayed, not_before=fake_clock.time() + 60)
        assert drain(clocked_app.broker) == []
        fake_clock.advance(59)
        assert drain(clocked_app.broker) == [], "a message is not delivered before not_before"
        fake_clock.advance(2)
        assert drain(clocked_app.broker) == [delayed], "a message is delivered once it is due"

    def test_a_delayed_invocation_does_not_hold_back_due_ones(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        delayed, due = _ids(2)
        clocked_app.broker.route_invocations(
            [BrokerMessage(delayed, not_before=fake_clock.time() + 60), BrokerMessage(due)]
        )
        assert drain(clocked_app.broker) == [due]

    def test_a_not_before_in_the_past_is_due_at_once(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        (invocation_id,) = _ids(1)
        clocked_app.broker.route_invocation(invocation_id, not_before=fake_clock.time() - 5)
        assert drain(clocked_app.broker) == [invocation_id]

    def test_queue_depth_includes_delayed_invocations(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        delayed, due = _ids(2)
        clocked_app.broker.route_invocations(
            [BrokerMessage(delayed, not_before=fake_clock.time() + 60), BrokerMessage(due)]
        )
        assert clocked_app.broker.count_invocations() == 2
        drain(clocked_app.broker)
        assert clocked_app.broker.count_invocations() == 1

    def test_an_unacknowledged_message_is_delivered_again_after_its_lease(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        harness.require("cross_process")
        app = harness.new_app(clock=fake_clock, broker_lease_seconds=30)
        (invocation_id,) = _ids(1)
        app.broker.route_invocation(invocation_id)
        assert drain(app.broker) == [invocation_id]
        fake_clock.advance(29)
        assert drain(app.broker) == [], "a leased message is not delivered to another runner"
        fake_clock.advance(2)
        assert drain(app.broker) == [invocation_id], (
            "a message whose runner died before acknowledging it must be delivered again"
        )

    def test_an_acknowledged_message_is_never_delivered_again(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, broker_lease_seconds=30)
        (invocation_id,) = _ids(1)
        app.broker.route_invocation(invocation_id)
        app.broker.ack_invocations(drain(app.broker))
        fake_clock.advance(3600)
        assert drain(app.broker) == []
        assert app.broker.count_invocations() == 0

    def test_blocking_retrieval_returns_as_soon_as_an_invocation_is_routed(
        self, app: Pynenc
    ) -> None:
        (invocation_id,) = _ids(1)
        delivered: list[InvocationId] = []
        waiting = threading.Event()
        returned = threading.Event()

        def consume() -> None:
            waiting.set()
            delivered.extend(app.broker.retrieve_invocations(1, timeout=20.0))
            returned.set()

        threading.Thread(target=consume, daemon=True).start()
        assert waiting.wait(5.0)
        routed_at = time.monotonic()
        app.broker.route_invocation(invocation_id)
        assert returned.wait(10.0), "blocking retrieval must return once an invocation is routed"
        latency = time.monotonic() - routed_at
        assert delivered == [invocation_id]
        assert latency < 2.0, f"blocking retrieval took {latency:.2f}s to see a routed invocation"

    def test_retrieval_with_a_timeout_returns_empty_after_roughly_the_timeout(
        self, app: Pynenc
    ) -> None:
        started = time.monotonic()
        assert app.broker.retrieve_invocations(1, timeout=0.3) == []
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 3.0, f"a 0.3s retrieval timeout took {elapsed:.2f}s"

    def test_retrieval_with_zero_timeout_does_not_wait(self, app: Pynenc) -> None:
        started = time.monotonic()
        assert app.broker.retrieve_invocations(1, timeout=0) == []
        assert time.monotonic() - started < 1.0

    def test_purge_deletes_every_queued_invocation(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        broker = clocked_app.broker
        broker.route_invocations([BrokerMessage(i, "a") for i in _ids(2)])
        broker.route_invocation(new_invocation_id(), not_before=fake_clock.time() + 60)
        broker.purge()
        assert broker.count_invocations() == 0
        fake_clock.advance(120)
        assert drain(broker) == []

    def test_purge_only_affects_its_own_app(self, harness: ConformanceHarness) -> None:
        mine, theirs = harness.new_app(), harness.new_app()
        (kept,) = _ids(1)
        theirs.broker.route_invocation(kept)
        mine.broker.route_invocation(new_invocation_id())
        mine.broker.purge()
        assert drain(theirs.broker) == [kept]

    def test_apps_never_receive_each_others_invocations(self, harness: ConformanceHarness) -> None:
        first, second = harness.new_app(), harness.new_app()
        (only_first,) = _ids(1)
        first.broker.route_invocation(only_first)
        assert drain(second.broker) == []
        assert second.broker.count_invocations() == 0
        assert drain(first.broker) == [only_first]

    def test_concurrent_consumers_each_get_distinct_invocations(
        self, harness: ConformanceHarness
    ) -> None:
        harness.require("concurrent_access")
        app = harness.app
        ids = _ids(CONSUMERS * MESSAGES_PER_CONSUMER)
        app.broker.route_invocations([BrokerMessage(i) for i in ids])
        batches = race(CONSUMERS, lambda _: drain(app.broker))
        delivered = [i for batch in batches for i in batch]
        assert sorted(delivered) == sorted(ids), (
            "every routed invocation is delivered exactly once, also to concurrent consumers"
        )
