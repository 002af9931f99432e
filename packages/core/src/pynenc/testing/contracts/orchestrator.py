"""The orchestrator contract: invocation statuses and their compare-and-set transitions (every
move the status table lists succeeds, every other one is refused and changes nothing), ownership,
listings, heartbeats, atomic-service records, blocking control, purge and bounded caches."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.exceptions import (
    InvalidStatusTransitionError,
    InvocationOwnershipError,
    InvocationStatusError,
    InvocationStatusNotFoundError,
)
from pynenc.identifiers.invocation_id import InvocationId, new_invocation_id
from pynenc.invocation.status import STATUS_TABLE, InvocationStatus, InvocationStatusRecord
from pynenc.orchestrator.atomic_service import (
    AtomicServiceExecution,
    AtomicServiceExecutionStatus,
)
from pynenc.orchestrator.base_orchestrator import InvocationQuery
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks
from pynenc.testing.harness import ConformanceHarness, ConformanceTests, race
from pynenc.util.clock import FakeClock

S = InvocationStatus
_ORDER = list(InvocationStatus)


def path_from_registered(target: InvocationStatus) -> list[InvocationStatus]:
    """The shortest sequence of moves the status table allows from REGISTERED to ``target``."""
    previous: dict[InvocationStatus, InvocationStatus | None] = {S.REGISTERED: None}
    queue = deque([S.REGISTERED])
    while queue:
        status = queue.popleft()
        for following in sorted(STATUS_TABLE[status].next_statuses, key=_ORDER.index):
            if following not in previous:
                previous[following] = status
                queue.append(following)
    if target not in previous:
        raise AssertionError(f"status {target} cannot be reached from REGISTERED")
    path: list[InvocationStatus] = []
    step: InvocationStatus | None = target
    while step is not None and step != S.REGISTERED:
        path.append(step)
        step = previous[step]
    return path[::-1]


LEGAL_MOVES = [
    (source, target)
    for source in _ORDER
    for target in sorted(STATUS_TABLE[source].next_statuses, key=_ORDER.index)
]
ILLEGAL_MOVES = [
    (source, target) for source in _ORDER for target in _ORDER if not source.can_move_to(target)
]
OWNER_ONLY_MOVES = [
    (source, target)
    for source, target in LEGAL_MOVES
    if STATUS_TABLE[source].owned and not STATUS_TABLE[target].entered_by_non_owner
]
RECOVERY_MOVES = [
    (source, target)
    for source, target in LEGAL_MOVES
    if STATUS_TABLE[source].owned and STATUS_TABLE[target].entered_by_non_owner
]


def _ids(moves: list[tuple[InvocationStatus, InvocationStatus]]) -> list[str]:
    return [f"{source.value}->{target.value}" for source, target in moves]


RACERS = 16
RACE_ROUNDS = 10


def _move_to(
    app: Pynenc, invocation_id: InvocationId, target: InvocationStatus, ctx: RunnerContext
) -> None:
    for status in path_from_registered(target):
        app.orchestrator.set_invocation_status(invocation_id, status, ctx)


def _stored(app: Pynenc, invocation_id: InvocationId) -> InvocationStatusRecord:
    return app.orchestrator.get_invocation_status_record(invocation_id, use_cache=False)


def _race_to_claim(
    app: Pynenc, invocation_id: InvocationId, contexts: list[RunnerContext]
) -> list[InvocationStatusRecord | None]:
    """Every context tries to claim the invocation at the same moment."""
    return race(
        len(contexts),
        lambda i: app.orchestrator.try_set_invocation_status(invocation_id, S.PENDING, contexts[i]),
    )


def _waiting_in_a_thread(
    app: Pynenc, invocation_ids: list[InvocationId]
) -> tuple[dict[InvocationId, InvocationStatusRecord], threading.Event]:
    """Start a thread that waits (up to 10 s) for the invocations to be final: what it found,
    and the event set when it returned."""
    found: dict[InvocationId, InvocationStatusRecord] = {}
    woke = threading.Event()

    def wait() -> None:
        found.update(app.orchestrator.wait_for_final(invocation_ids, timeout=10.0))
        woke.set()

    threading.Thread(target=wait, daemon=True).start()
    return found, woke


class OrchestratorContract(ConformanceTests):
    """Statuses, transitions, listings, runners and records of ``orchestrator_cls``."""

    contract = "orchestrator"

    # ------------------------------------------------------------------ registration

    def test_a_routed_call_is_registered_with_one_history_entry(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        invocation = harness.register(app)
        assert _stored(app, invocation.invocation_id).status == S.REGISTERED
        assert harness.statuses(app, invocation.invocation_id) == [S.REGISTERED]

    def test_a_batch_of_calls_registers_every_invocation(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        group = harness.task(tasks.add, app).parallelize([(i, i) for i in range(12)])
        ids = [inv.invocation_id for inv in group]
        records = app.orchestrator.get_status_records(ids)
        assert set(records) == set(ids)
        assert {r.status for r in records.values()} == {S.REGISTERED}

    @pytest.mark.parametrize("status", [S.REGISTERED, S.RUNNING, S.SUCCESS], ids=str)
    def test_registering_an_invocation_id_already_stored_leaves_it_as_it_is(
        self, harness: ConformanceHarness, app: Pynenc, status: InvocationStatus
    ) -> None:
        """Two runners that fire the same trigger run register the same derived id: the
        second registration must not reset, queue or record the first invocation again."""
        from pynenc.invocation.dist_invocation import DistributedInvocation

        first = harness.register(app)
        invocation_id = first.invocation_id
        _move_to(app, invocation_id, status, harness.runner_context("owner"))
        before = _stored(app, invocation_id)
        history = len(harness.history(app, invocation_id))
        queued = app.broker.count_invocations()

        again: DistributedInvocation[Any, Any]
        again = DistributedInvocation.new(first.call, invocation_id)
        (returned,) = app.orchestrator.register_and_route([again])

        assert returned.invocation_id == invocation_id
        assert _stored(app, invocation_id) == before
        assert len(harness.history(app, invocation_id)) == history
        assert app.broker.count_invocations() == queued
        assert harness.counts(app) == {status: 1}

    def test_an_unknown_invocation_has_no_status(self, app: Pynenc) -> None:
        with pytest.raises(InvocationStatusNotFoundError):
            app.orchestrator.get_invocation_status(new_invocation_id(), use_cache=False)

    def test_moving_an_unknown_invocation_is_refused(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        with pytest.raises(InvocationStatusNotFoundError):
            app.orchestrator.set_invocation_status(
                new_invocation_id(), S.PENDING, harness.runner_context()
            )

    # ------------------------------------------------------------------ the status table

    @pytest.mark.parametrize(("source", "target"), LEGAL_MOVES, ids=_ids(LEGAL_MOVES))
    def test_every_move_the_status_table_lists_succeeds(
        self,
        harness: ConformanceHarness,
        app: Pynenc,
        source: InvocationStatus,
        target: InvocationStatus,
    ) -> None:
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, source, owner)
        before = len(harness.history(app, invocation_id))

        record = app.orchestrator.set_invocation_status(invocation_id, target, owner)

        assert record.status == target
        stored = _stored(app, invocation_id)
        assert (stored.status, stored.runner_id) == (target, owner.runner_id), (
            f"a legal move {source} -> {target} must be stored"
        )
        history = harness.history(app, invocation_id)
        assert len(history) == before + 1, "every status change appends one history entry"
        assert history[-1].status_record.status == target

    @pytest.mark.parametrize(("source", "target"), ILLEGAL_MOVES, ids=_ids(ILLEGAL_MOVES))
    def test_every_move_the_status_table_does_not_list_is_refused_and_changes_nothing(
        self,
        harness: ConformanceHarness,
        app: Pynenc,
        source: InvocationStatus,
        target: InvocationStatus,
    ) -> None:
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, source, owner)
        before = _stored(app, invocation_id)
        history_before = harness.statuses(app, invocation_id)

        with pytest.raises(InvalidStatusTransitionError):
            app.orchestrator.set_invocation_status(invocation_id, target, owner)

        assert _stored(app, invocation_id) == before, (
            f"a refused move {source} -> {target} must not change the stored status"
        )
        assert harness.statuses(app, invocation_id) == history_before

    @pytest.mark.parametrize(("source", "target"), OWNER_ONLY_MOVES, ids=_ids(OWNER_ONLY_MOVES))
    def test_only_the_owner_may_leave_an_owned_status(
        self,
        harness: ConformanceHarness,
        app: Pynenc,
        source: InvocationStatus,
        target: InvocationStatus,
    ) -> None:
        owner = harness.runner_context("owner")
        intruder = harness.runner_context("intruder")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, source, owner)
        before = _stored(app, invocation_id)

        with pytest.raises(InvocationOwnershipError):
            app.orchestrator.set_invocation_status(invocation_id, target, intruder)

        assert _stored(app, invocation_id) == before, (
            f"only the owner may move an invocation out of {source}"
        )

    @pytest.mark.parametrize(("source", "target"), RECOVERY_MOVES, ids=_ids(RECOVERY_MOVES))
    def test_any_runner_may_move_an_owned_invocation_to_recovery(
        self,
        harness: ConformanceHarness,
        app: Pynenc,
        source: InvocationStatus,
        target: InvocationStatus,
    ) -> None:
        owner = harness.runner_context("owner")
        recoverer = harness.runner_context("recoverer")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, source, owner)

        app.orchestrator.set_invocation_status(invocation_id, target, recoverer)

        stored = _stored(app, invocation_id)
        assert (stored.status, stored.runner_id) == (target, recoverer.runner_id)

    def test_entering_pending_makes_the_claiming_runner_the_owner(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        claimer = harness.runner_context("claimer")
        invocation_id = harness.register(app).invocation_id
        app.orchestrator.set_invocation_status(invocation_id, S.PENDING, claimer)
        assert _stored(app, invocation_id).owner_id == claimer.runner_id
        with pytest.raises(InvocationOwnershipError):
            app.orchestrator.set_invocation_status(
                invocation_id, S.RUNNING, harness.runner_context("other")
            )

    # ------------------------------------------------------------------ final is final

    def test_a_late_result_from_a_runner_that_lost_ownership_is_refused(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        app.orchestrator.set_invocation_status(
            invocation_id, S.RUNNING_RECOVERY, harness.runner_context("recoverer")
        )

        with pytest.raises(InvocationStatusError):
            app.orchestrator.set_invocation_result(invocation_id, 42, owner)

        assert app.state_backend._get_result(invocation_id) is None, (
            "a late write after losing ownership must store no result"
        )
        assert _stored(app, invocation_id).status == S.RUNNING_RECOVERY
        assert S.SUCCESS not in harness.statuses(app, invocation_id)

    def test_a_late_result_after_another_runner_took_over_is_refused(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        first = harness.runner_context("first")
        second = harness.runner_context("second")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, first)
        for status in (S.RUNNING_RECOVERY, S.REROUTED, S.PENDING, S.RUNNING):
            app.orchestrator.set_invocation_status(invocation_id, status, second)

        with pytest.raises(InvocationOwnershipError):
            app.orchestrator.set_invocation_result(invocation_id, "late", first)
        assert app.state_backend._get_result(invocation_id) is None, (
            "a late write after losing ownership must store no result"
        )

        app.orchestrator.set_invocation_result(invocation_id, "on time", second)
        assert app.state_backend.get_result(invocation_id) == "on time"

    def test_a_late_exception_from_a_runner_that_lost_ownership_is_refused(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        app.orchestrator.set_invocation_status(
            invocation_id, S.RUNNING_RECOVERY, harness.runner_context("recoverer")
        )

        with pytest.raises(InvocationStatusError):
            app.orchestrator.set_invocation_exception(invocation_id, ValueError("late"), owner)
        assert app.state_backend._get_exception(invocation_id) is None, (
            "a late write after losing ownership must store no exception"
        )

    def test_a_result_is_written_once(self, harness: ConformanceHarness, app: Pynenc) -> None:
        owner = harness.runner_context("owner")
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        app.orchestrator.set_invocation_result(invocation_id, "first", owner)

        with pytest.raises(InvalidStatusTransitionError):
            app.orchestrator.set_invocation_result(invocation_id, "second", owner)

        assert app.state_backend.get_result(invocation_id) == "first"
        assert harness.statuses(app, invocation_id).count(S.SUCCESS) == 1

    # ------------------------------------------------------------------ compare-and-set

    def test_exactly_one_runner_may_claim_an_invocation(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        harness.require("concurrent_access")
        for _ in range(RACE_ROUNDS):
            invocation_id = harness.register(app).invocation_id
            contexts = [harness.runner_context(f"racer{i}") for i in range(RACERS)]
            outcomes = _race_to_claim(app, invocation_id, contexts)
            winners = [contexts[i].runner_id for i, rec in enumerate(outcomes) if rec is not None]
            assert len(winners) == 1, (
                f"exactly one runner may claim an invocation: {len(winners)} of {RACERS} racing "
                "runners moved the same invocation REGISTERED -> PENDING (status changes must "
                "be compare-and-set)"
            )
            assert _stored(app, invocation_id).runner_id == winners[0], (
                "exactly one runner may claim an invocation: the stored owner is not the winner"
            )
            assert harness.statuses(app, invocation_id).count(S.PENDING) == 1, (
                "exactly one runner may claim an invocation: one PENDING history entry"
            )

    def test_delivered_invocations_are_claimed_for_the_runner_that_fetched_them(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        runner = harness.runner_context("fetcher")
        invocation_id = harness.register(app).invocation_id

        fetched = app.orchestrator.get_invocations_to_run(1, runner, timeout=5.0)

        assert [inv.invocation_id for inv in fetched] == [invocation_id]
        stored = _stored(app, invocation_id)
        assert (stored.status, stored.owner_id) == (S.PENDING, runner.runner_id)

    def test_invocations_fetched_to_start_at_once_are_running_with_both_history_entries(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        runner = harness.runner_context("starter")
        invocation_id = harness.register(app).invocation_id

        fetched = app.orchestrator.get_invocations_to_run(1, runner, timeout=5.0, start=True)

        assert [inv.invocation_id for inv in fetched] == [invocation_id]
        stored = _stored(app, invocation_id)
        assert (stored.status, stored.owner_id) == (S.RUNNING, runner.runner_id)
        history = harness.history(app, invocation_id)
        assert [h.status_record.status for h in history] == [S.REGISTERED, S.PENDING, S.RUNNING]
        assert [h.runner_context_id for h in history[1:]] == [runner.runner_id] * 2
        assert history[1].timestamp < history[2].timestamp, "the start is recorded after the claim"

    def test_a_result_stored_with_a_claim_of_the_next_starts_the_next_for_the_same_runner(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        runner = harness.runner_context("chainer")
        first = harness.register(app).invocation_id
        (running,) = app.orchestrator.get_invocations_to_run(1, runner, timeout=5.0, start=True)
        second = harness.register(app).invocation_id

        following = app.orchestrator.set_result_and_claim_next(first, 3, runner, 1)

        assert running.invocation_id == first
        assert app.state_backend.get_result(first) == 3
        assert _stored(app, first).status == S.SUCCESS
        assert [inv.invocation_id for inv in following] == [second]
        stored = _stored(app, second)
        assert (stored.status, stored.owner_id) == (S.RUNNING, runner.runner_id)

    def test_a_result_stored_with_a_claim_of_the_next_claims_nothing_when_nothing_is_due(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        runner = harness.runner_context("chainer")
        invocation_id = harness.register(app).invocation_id
        app.orchestrator.get_invocations_to_run(1, runner, timeout=5.0, start=True)

        assert app.orchestrator.set_result_and_claim_next(invocation_id, 3, runner, 1) == []
        assert _stored(app, invocation_id).status == S.SUCCESS

    def test_a_result_stored_with_a_claim_that_may_wait_returns_within_the_wait(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        """With a wait, a backend may wait for the next call in the same round trip as the
        final step (or not wait at all): the call returns within the wait, with nothing
        claimed when nothing came, and the result is stored and its waiters woken."""
        runner = harness.runner_context("chainer")
        invocation_id = harness.register(app).invocation_id
        app.orchestrator.get_invocations_to_run(8, runner, timeout=5.0, start=True)
        app.orchestrator.get_invocations_to_run(8, runner, timeout=0.05, start=True)
        seen: list[Any] = []
        watcher = threading.Thread(
            target=lambda: seen.append(app.orchestrator.wait_for_final([invocation_id], 10.0)),
            daemon=True,
        )
        watcher.start()
        started = time.monotonic()

        following = app.orchestrator.set_result_and_claim_next(invocation_id, 3, runner, 1, 1.0)

        assert following == []
        assert time.monotonic() - started < 5.0, "the call returns within its wait"
        watcher.join(10.0)
        assert seen and seen[0][invocation_id].status == S.SUCCESS
        assert app.state_backend.get_result(invocation_id) == 3

    def test_a_refused_result_claims_nothing(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner, other = harness.runner_context("owner"), harness.runner_context("other")
        invocation_id = harness.register(app).invocation_id
        app.orchestrator.get_invocations_to_run(1, owner, timeout=5.0, start=True)
        waiting = harness.register(app).invocation_id

        with pytest.raises(InvocationOwnershipError):
            app.orchestrator.set_result_and_claim_next(invocation_id, 3, other, 1)

        assert _stored(app, waiting).status == S.REGISTERED, "the refused runner claimed nothing"

    def test_an_invocation_claimed_by_one_runner_is_not_claimed_again(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        invocation_id = harness.register(app).invocation_id
        first = app.orchestrator.claim_invocations([invocation_id], harness.runner_context())
        second = app.orchestrator.claim_invocations([invocation_id], harness.runner_context())
        assert (first, second) == ([invocation_id], [])

    # ------------------------------------------------------------------ history

    def test_every_status_change_appends_one_history_entry_with_its_runner(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        runner = harness.runner_context("runner")
        invocation_id = harness.register(clocked_app).invocation_id
        for status in (S.PENDING, S.RUNNING):
            fake_clock.advance(1)
            clocked_app.orchestrator.set_invocation_status(invocation_id, status, runner)
        fake_clock.advance(1)
        clocked_app.orchestrator.set_invocation_result(invocation_id, 3, runner)

        history = harness.history(clocked_app, invocation_id)
        assert [h.status_record.status for h in history] == [
            S.REGISTERED,
            S.PENDING,
            S.RUNNING,
            S.SUCCESS,
        ]
        assert [h.runner_context_id for h in history[1:]] == [runner.runner_id] * 3

    # ------------------------------------------------------------------ counts and listings

    def test_status_counts_per_status_and_per_task(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context()
        adds = [harness.register(app, tasks.add, i, i) for i in range(3)]
        harness.register(app, tasks.echo, "a")
        harness.register(app, tasks.echo, "b")
        app.orchestrator.set_invocation_status(adds[0].invocation_id, S.PENDING, owner)

        assert harness.counts(app) == {S.REGISTERED: 4, S.PENDING: 1}
        assert harness.counts(app, tasks.add) == {S.REGISTERED: 2, S.PENDING: 1}
        assert harness.counts(app, tasks.echo) == {S.REGISTERED: 2}

    def _register_over_time(
        self, harness: ConformanceHarness, app: Pynenc, clock: FakeClock, count: int
    ) -> list[InvocationId]:
        ids = []
        for i in range(count):
            ids.append(harness.register(app, tasks.add, i, i).invocation_id)
            clock.advance(10)
        return ids

    def test_listing_is_oldest_registration_first(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        ids = self._register_over_time(harness, clocked_app, fake_clock, 5)
        page = clocked_app.orchestrator.query_invocations(InvocationQuery(limit=100))
        assert page.invocation_ids == ids
        assert page.next_cursor is None

    def test_listing_filters_by_task(self, harness: ConformanceHarness, app: Pynenc) -> None:
        adds = [harness.register(app, tasks.add, i, i).invocation_id for i in range(3)]
        echoes = [harness.register(app, tasks.echo, i).invocation_id for i in range(2)]
        query = InvocationQuery(task_ids=frozenset({tasks.echo.task_id.key}))
        assert set(app.orchestrator.iter_invocations(query)) == set(echoes)
        query = InvocationQuery(task_ids=frozenset({tasks.add.task_id.key}))
        assert set(app.orchestrator.iter_invocations(query)) == set(adds)

    def test_listing_filters_by_status(self, harness: ConformanceHarness, app: Pynenc) -> None:
        owner = harness.runner_context()
        ids = [harness.register(app, tasks.add, i, i).invocation_id for i in range(4)]
        app.orchestrator.set_invocation_status(ids[1], S.PENDING, owner)
        _move_to(app, ids[2], S.RUNNING, owner)

        def listed(*statuses: InvocationStatus) -> set[InvocationId]:
            query = InvocationQuery(statuses=frozenset(statuses))
            return set(app.orchestrator.iter_invocations(query))

        assert listed(S.REGISTERED) == {ids[0], ids[3]}
        assert listed(S.PENDING, S.RUNNING) == {ids[1], ids[2]}
        assert listed(S.SUCCESS) == set()

    def test_listing_filters_by_registration_time(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        start = fake_clock.now()
        ids = self._register_over_time(harness, clocked_app, fake_clock, 3)
        after = InvocationQuery(registered_after=start + timedelta(seconds=5))
        before = InvocationQuery(registered_before=start + timedelta(seconds=15))
        between = InvocationQuery(
            registered_after=start + timedelta(seconds=5),
            registered_before=start + timedelta(seconds=15),
        )
        orchestrator = clocked_app.orchestrator
        assert list(orchestrator.iter_invocations(after)) == ids[1:]
        assert list(orchestrator.iter_invocations(before)) == ids[:2]
        assert list(orchestrator.iter_invocations(between)) == [ids[1]]

    def test_listing_filters_by_last_status_change(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        owner = harness.runner_context()
        ids = self._register_over_time(harness, clocked_app, fake_clock, 2)
        cutoff = fake_clock.now()
        fake_clock.advance(10)
        clocked_app.orchestrator.set_invocation_status(ids[0], S.PENDING, owner)
        query = InvocationQuery(status_changed_before=cutoff)
        assert list(clocked_app.orchestrator.iter_invocations(query)) == [ids[1]]

    def test_listing_filters_by_owner(self, harness: ConformanceHarness, app: Pynenc) -> None:
        first, second = harness.runner_context("first"), harness.runner_context("second")
        ids = [harness.register(app, tasks.add, i, i).invocation_id for i in range(3)]
        app.orchestrator.set_invocation_status(ids[0], S.PENDING, first)
        _move_to(app, ids[1], S.RUNNING, second)

        def owned_by(*runners: RunnerContext) -> set[InvocationId]:
            query = InvocationQuery(owner_ids=frozenset(r.runner_id for r in runners))
            return set(app.orchestrator.iter_invocations(query))

        assert owned_by(first) == {ids[0]}
        assert owned_by(first, second) == {ids[0], ids[1]}

    def test_listing_filters_by_call(self, harness: ConformanceHarness, app: Pynenc) -> None:
        same = [harness.register(app, tasks.add, 1, 1) for _ in range(2)]
        harness.register(app, tasks.add, 2, 2)
        query = InvocationQuery(call_id=same[0].call.call_id.key)
        assert set(app.orchestrator.iter_invocations(query)) == {i.invocation_id for i in same}

    def test_listing_pages_cover_every_invocation_exactly_once_in_order(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        ids = self._register_over_time(harness, clocked_app, fake_clock, 23)
        listed: list[InvocationId] = []
        pages = 0
        query = InvocationQuery(limit=5)
        while True:
            page = clocked_app.orchestrator.query_invocations(query)
            pages += 1
            assert len(page.invocation_ids) <= 5, "a page never holds more than its limit"
            listed.extend(page.invocation_ids)
            if page.next_cursor is None:
                break
            query = InvocationQuery(limit=5, cursor=page.next_cursor)
            assert pages <= 10, "pagination must end"
        assert listed == ids, "the pages must list every invocation exactly once, oldest first"

    def test_listing_pages_cover_a_batch_registered_at_one_instant_exactly_once(
        self, harness: ConformanceHarness, clocked_app: Pynenc
    ) -> None:
        group = harness.task(tasks.add, clocked_app).parallelize([(i, 0) for i in range(13)])
        listed = list(clocked_app.orchestrator.iter_invocations(InvocationQuery(limit=4)))
        assert sorted(listed) == sorted(inv.invocation_id for inv in group), (
            "the pages must list every invocation exactly once, even with equal timestamps"
        )

    def test_filtered_pages_cover_every_match_exactly_once(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        echoes = []
        for i in range(9):
            harness.register(clocked_app, tasks.add, i, i)
            echoes.append(harness.register(clocked_app, tasks.echo, i).invocation_id)
            fake_clock.advance(1)
        query = InvocationQuery(task_ids=frozenset({tasks.echo.task_id.key}), limit=2)
        assert list(clocked_app.orchestrator.iter_invocations(query)) == echoes

    # ------------------------------------------------------------------ retries

    def test_retries_start_at_zero_and_count_each_retry(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context()
        invocation = harness.register(app, tasks.flaky, "retries", 5)
        invocation_id = invocation.invocation_id
        assert app.orchestrator.get_invocation_retries(invocation_id) == 0
        _move_to(app, invocation_id, S.RUNNING, owner)
        app.orchestrator.set_invocation_retry(invocation, tasks.FlakyError("1"), owner)
        assert app.orchestrator.get_invocation_retries(invocation_id) == 1
        for status in (S.PENDING, S.RUNNING):
            app.orchestrator.set_invocation_status(invocation_id, status, owner)
        app.orchestrator.set_invocation_retry(invocation, tasks.FlakyError("2"), owner)
        assert app.orchestrator.get_invocation_retries(invocation_id) == 2
        assert _stored(app, invocation_id).status == S.RETRY

    # ------------------------------------------------------------------ runners

    def test_heartbeating_runners_are_active(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        orchestrator = clocked_app.orchestrator
        orchestrator.register_runner_heartbeats(["runner-b"])
        fake_clock.advance(1)
        orchestrator.register_runner_heartbeats(["runner-a"], can_run_atomic_service=True)
        active = orchestrator.get_active_runners()
        assert [r.runner_id for r in active] == ["runner-b", "runner-a"], (
            "active runners are listed by creation time"
        )
        assert [r.allow_to_run_atomic_service for r in active] == [False, True]

    def test_a_runner_silent_longer_than_the_dead_threshold_is_inactive(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, runner_considered_dead_after_minutes=10.0)
        orchestrator = app.orchestrator
        orchestrator.register_runner_heartbeats(["silent", "alive"])
        fake_clock.advance(6 * 60)
        orchestrator.register_runner_heartbeats(["alive"])
        fake_clock.advance(5 * 60)
        assert [r.runner_id for r in orchestrator.get_active_runners()] == ["alive"]
        assert {r.runner_id for r in orchestrator.get_runner_infos()} >= {"silent", "alive"}

    def test_a_heartbeat_keeps_the_creation_time_and_moves_the_last_heartbeat(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        orchestrator = clocked_app.orchestrator
        created = fake_clock.now()
        orchestrator.register_runner_heartbeats(["runner"])
        fake_clock.advance(30)
        orchestrator.register_runner_heartbeats(["runner"])
        (info,) = orchestrator.get_active_runners()
        assert info.creation_time == created
        assert info.last_heartbeat == fake_clock.now()

    def test_unregistered_runners_are_forgotten(self, clocked_app: Pynenc) -> None:
        orchestrator = clocked_app.orchestrator
        orchestrator.register_runner_heartbeats(["leaving", "staying"])
        orchestrator.unregister_runners(["leaving"])
        assert {r.runner_id for r in orchestrator.get_runner_infos()} == {"staying"}

    # ------------------------------------------------------------------ atomic services

    def _execution(
        self, run_id: str, clock: FakeClock, status: AtomicServiceExecutionStatus
    ) -> AtomicServiceExecution:
        start = clock.now()
        end = None if status == AtomicServiceExecutionStatus.RUNNING else start
        return AtomicServiceExecution.from_raw("runner", run_id, start, end, status, run_id)

    def test_an_atomic_service_execution_is_recorded_then_finalized(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        orchestrator = clocked_app.orchestrator
        running = self._execution("run-1", fake_clock, AtomicServiceExecutionStatus.RUNNING)
        orchestrator.record_atomic_service_execution(running)
        assert orchestrator.get_atomic_service_executions() == [running]
        fake_clock.advance(3)
        done = running._replace(
            end_time=fake_clock.now(), status=AtomicServiceExecutionStatus.COMPLETED
        )
        orchestrator.finalize_atomic_service_execution(done)
        assert orchestrator.get_atomic_service_executions() == [done]

    def test_atomic_service_executions_are_listed_newest_first(
        self, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        orchestrator = clocked_app.orchestrator
        for i in range(4):
            orchestrator.record_atomic_service_execution(
                self._execution(f"run-{i}", fake_clock, AtomicServiceExecutionStatus.COMPLETED)
            )
            fake_clock.advance(1)
        listed = orchestrator.get_atomic_service_executions(limit=3)
        assert [e.atomic_service_run_id for e in listed] == ["run-3", "run-2", "run-1"]

    def test_atomic_service_executions_older_than_the_retention_are_purged(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            atomic_service_execution_retention_minutes=60.0,
            atomic_service_execution_max_records=0,
        )
        completed = AtomicServiceExecutionStatus.COMPLETED
        app.orchestrator.finalize_atomic_service_execution(
            self._execution("old", fake_clock, completed)
        )
        fake_clock.advance(61 * 60)
        app.orchestrator.finalize_atomic_service_execution(
            self._execution("new", fake_clock, completed)
        )
        runs = [e.atomic_service_run_id for e in app.orchestrator.get_atomic_service_executions()]
        assert runs == ["new"]

    def test_atomic_service_executions_beyond_the_max_records_are_purged(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(
            clock=fake_clock,
            atomic_service_execution_retention_minutes=0.0,
            atomic_service_execution_max_records=3,
        )
        for i in range(5):
            app.orchestrator.finalize_atomic_service_execution(
                self._execution(f"run-{i}", fake_clock, AtomicServiceExecutionStatus.COMPLETED)
            )
            fake_clock.advance(1)
        runs = [e.atomic_service_run_id for e in app.orchestrator.get_atomic_service_executions()]
        assert runs == ["run-4", "run-3", "run-2"]

    # ------------------------------------------------------------------ blocking control

    def test_blocking_invocations_are_the_most_waited_on_first(self, app: Pynenc) -> None:
        orchestrator = app.orchestrator
        a, b, c = (new_invocation_id() for _ in range(3))
        orchestrator.waiting_for_results(new_invocation_id(), [a, b])
        orchestrator.waiting_for_results(new_invocation_id(), [b])
        orchestrator.waiting_for_results(new_invocation_id(), [b, c])
        blocking = orchestrator.get_blocking_invocations(10)
        assert blocking[0] == b
        assert sorted(blocking) == sorted([a, b, c])
        assert orchestrator.get_blocking_invocations(1) == [b]

    def test_a_released_waiter_no_longer_blocks_anything(self, app: Pynenc) -> None:
        orchestrator = app.orchestrator
        waiter, other = new_invocation_id(), new_invocation_id()
        a, b = new_invocation_id(), new_invocation_id()
        orchestrator.waiting_for_results(waiter, [a])
        orchestrator.waiting_for_results(other, [b])
        orchestrator.release_waiter(waiter)
        assert orchestrator.get_blocking_invocations(10) == [b]
        orchestrator.release_waiter(other)
        assert orchestrator.get_blocking_invocations(10) == []

    # ------------------------------------------------------------------ waiting for results

    def test_a_result_waiter_wakes_once_the_result_is_stored(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context()
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        found, woke = _waiting_in_a_thread(app, [invocation_id])
        assert not woke.wait(0.05), "wait_for_final must not return before the result is final"
        app.orchestrator.set_invocation_result(invocation_id, 3, owner)
        assert woke.wait(5.0), "a result waiter must wake once the result is stored"
        assert found[invocation_id].status == S.SUCCESS

    def test_a_waiter_on_several_invocations_returns_once_all_are_final(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context()
        first, second = (harness.register(app).invocation_id for _ in range(2))
        for invocation_id in (first, second):
            _move_to(app, invocation_id, S.RUNNING, owner)
        found, woke = _waiting_in_a_thread(app, [first, second, first])
        app.orchestrator.set_invocation_result(first, 1, owner)
        assert not woke.wait(0.1), (
            "wait_for_final must wait for every invocation (one waking it per result makes a "
            "wait on a large group quadratic)"
        )
        app.orchestrator.set_invocation_result(second, 2, owner)
        assert woke.wait(5.0), "the waiter must wake once every invocation is final"
        assert {i: r.status for i, r in found.items()} == {first: S.SUCCESS, second: S.SUCCESS}

    def test_a_waiter_whose_time_runs_out_gets_the_invocations_final_by_then(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        owner = harness.runner_context()
        done, running = (harness.register(app).invocation_id for _ in range(2))
        for invocation_id in (done, running):
            _move_to(app, invocation_id, S.RUNNING, owner)
        app.orchestrator.set_invocation_result(done, 1, owner)
        found = app.orchestrator.wait_for_final([done, running], timeout=0.2)
        assert list(found) == [done]
        assert app.orchestrator.wait_for_final([running], timeout=0.0) == {}

    def test_a_result_waiter_is_notified_rather_than_polling(
        self, harness: ConformanceHarness
    ) -> None:
        harness.require("notifications")
        app = harness.new_app(wait_poll_max_seconds=30.0)
        owner = harness.runner_context()
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        woke = threading.Event()

        def wait() -> None:
            app.orchestrator.wait_for_final([invocation_id], timeout=20.0)
            woke.set()

        threading.Thread(target=wait, daemon=True).start()
        assert not woke.wait(0.6), "wait_for_final must not return before the result is final"
        stored_at = time.monotonic()
        app.orchestrator.set_invocation_result(invocation_id, 3, owner)
        assert woke.wait(5.0), "a result waiter must wake once the result is stored"
        latency = time.monotonic() - stored_at
        assert latency < 0.3, (
            f"a notified result waiter must wake at once, it took {latency:.3f}s (declare "
            "Capabilities(notifications=False) if the backend polls)"
        )

    # ------------------------------------------------------------------ purge

    def _finish(
        self, harness: ConformanceHarness, app: Pynenc, status: InvocationStatus
    ) -> InvocationId:
        owner = harness.runner_context()
        invocation_id = harness.register(app).invocation_id
        _move_to(app, invocation_id, S.RUNNING, owner)
        if status == S.SUCCESS:
            app.orchestrator.set_invocation_result(invocation_id, 3, owner)
        elif status == S.FAILED:
            app.orchestrator.set_invocation_exception(invocation_id, ValueError("x"), owner)
        return invocation_id

    def test_purging_final_invocations_removes_only_final_ones_older_than_the_cutoff(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        old_success = self._finish(harness, clocked_app, S.SUCCESS)
        old_failed = self._finish(harness, clocked_app, S.FAILED)
        old_running = self._finish(harness, clocked_app, S.RUNNING)
        fake_clock.advance(2 * 3600)
        new_success = self._finish(harness, clocked_app, S.SUCCESS)

        removed = clocked_app.orchestrator.purge_final_invocations(
            older_than=fake_clock.now() - timedelta(hours=1)
        )

        assert removed == 2
        for gone in (old_success, old_failed):
            with pytest.raises(InvocationStatusNotFoundError):
                _stored(clocked_app, gone)
        assert _stored(clocked_app, old_running).status == S.RUNNING
        assert _stored(clocked_app, new_success).status == S.SUCCESS

    def test_purging_final_invocations_defaults_to_the_configured_age(
        self, harness: ConformanceHarness, fake_clock: FakeClock
    ) -> None:
        app = harness.new_app(clock=fake_clock, auto_final_invocation_purge_hours=1.0)
        old = self._finish(harness, app, S.SUCCESS)
        fake_clock.advance(2 * 3600)
        recent = self._finish(harness, app, S.SUCCESS)
        assert app.orchestrator.purge_final_invocations() == 1
        with pytest.raises(InvocationStatusNotFoundError):
            _stored(app, old)
        assert _stored(app, recent).status == S.SUCCESS

    def test_purged_invocations_keep_their_history_and_result_in_the_state_backend(
        self, harness: ConformanceHarness, clocked_app: Pynenc, fake_clock: FakeClock
    ) -> None:
        invocation_id = self._finish(harness, clocked_app, S.SUCCESS)
        fake_clock.advance(3600)
        clocked_app.orchestrator.purge_final_invocations(older_than=fake_clock.now())
        assert harness.statuses(clocked_app, invocation_id)[-1] == S.SUCCESS
        assert clocked_app.state_backend.get_result(invocation_id) == 3

    def test_purge_removes_every_status_of_the_app(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        invocation_id = harness.register(app).invocation_id
        app.orchestrator.purge()
        with pytest.raises(InvocationStatusNotFoundError):
            _stored(app, invocation_id)
        assert harness.counts(app) == {}

    # ------------------------------------------------------------------ bounded caches

    def test_status_caches_never_exceed_the_status_cache_size(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(status_cache_size=5)
        owner = harness.runner_context()
        ids = [harness.register(app, tasks.add, i, i).invocation_id for i in range(20)]
        for invocation_id in ids:
            app.orchestrator.get_invocation_status(invocation_id)
            _move_to(app, invocation_id, S.RUNNING, owner)
            app.orchestrator.set_invocation_result(invocation_id, 0, owner)
        assert set(app.orchestrator.get_final_records(ids)) == set(ids)
        for invocation_id in ids:
            app.orchestrator.get_invocation_status(invocation_id)
        assert len(app.orchestrator._final_cache) <= 5, "caches are bounded by status_cache_size"
        assert len(app.orchestrator._status_cache) <= 5, "caches are bounded by status_cache_size"

    # ------------------------------------------------------------------ the back door

    def test_a_status_change_is_stored_not_only_cached(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        backdoor = harness.backdoor("read_status")
        invocation_id = harness.register(app).invocation_id
        assert backdoor.read_status(app, invocation_id) == S.REGISTERED
        app.orchestrator.set_invocation_status(invocation_id, S.PENDING, harness.runner_context())
        assert backdoor.read_status(app, invocation_id) == S.PENDING

    def test_a_refused_move_leaves_the_stored_status_unchanged(
        self, harness: ConformanceHarness, app: Pynenc
    ) -> None:
        backdoor = harness.backdoor("read_status")
        invocation_id = harness.register(app).invocation_id
        with pytest.raises(InvalidStatusTransitionError):
            app.orchestrator.set_invocation_status(
                invocation_id, S.SUCCESS, harness.runner_context()
            )
        assert backdoor.read_status(app, invocation_id) == S.REGISTERED
