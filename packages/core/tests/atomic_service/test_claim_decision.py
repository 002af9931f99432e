"""decide_atomic_service_claim: one test per outcome, and the slot layout behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pynenc.orchestrator.atomic_service import (
    ActiveRunnerInfo,
    AtomicServiceClaim,
    AtomicServiceDecisionReason,
    AtomicServiceId,
    AtomicServiceRun,
    decide_atomic_service_claim,
)

R = AtomicServiceDecisionReason
T0 = datetime(2030, 1, 1, tzinfo=UTC)
"""Start of a cycle for every interval used here."""


def member(
    runner_id: str, joined_seconds_before_t0: float = 3600, allowed: bool = True
) -> ActiveRunnerInfo:
    created = T0 - timedelta(seconds=joined_seconds_before_t0)
    return ActiveRunnerInfo(runner_id, created, T0, allowed)


def decide(
    runner_id: str,
    runners: list[ActiveRunnerInfo],
    at_seconds: float,
    *,
    interval: float = 10.0,
    margin: float = 1.0,
    stabilization: float = 0.0,
    max_fraction: float = 1.0,
) -> AtomicServiceClaim:
    return decide_atomic_service_claim(
        runner_id=runner_id,
        active_runners=runners,
        current_time=T0.timestamp() + at_seconds,
        service_interval_minutes=interval,
        spread_margin_minutes=margin,
        membership_stabilization_seconds=stabilization,
        max_start_slot_fraction=max_fraction,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


TWO = [member("a", 7200), member("b", 3600)]
"""Interval 10 min, margin 1 min: slots [0, 300) and [300, 600); windows end 60 s earlier."""


def test_a_runner_inside_its_window_is_assigned_a_run() -> None:
    claim = decide("a", TWO, 60)
    assert claim.reason == R.ASSIGNED
    assert claim.should_try_start
    run = claim.atomic_service_run
    assert run is not None
    assert (run.runner_id, run.cycle_start, run.slot_start, run.slot_end, run.started_at) == (
        "a",
        T0,
        T0,
        at(240),
        at(60),
    )
    assert (claim.runner_position, claim.stable_runner_count, claim.assigned_runner_id) == (
        0,
        2,
        "a",
    )
    assert claim.skip_reason is None


def test_a_runner_outside_its_window_is_not_assigned() -> None:
    claim = decide("b", TWO, 60)
    assert claim.reason == R.NOT_ASSIGNED_SLOT
    assert not claim.should_try_start
    assert (claim.slot_start, claim.slot_end) == (at(300), at(540))
    assert claim.assigned_runner_id == "a"
    assert not claim.is_slot_owner_now


def test_nobody_is_assigned_inside_the_spread_margin() -> None:
    in_margin = [decide(r.runner_id, TWO, 270) for r in TWO]
    assert [c.reason for c in in_margin] == [R.NOT_ASSIGNED_SLOT, R.NOT_ASSIGNED_SLOT]


def test_a_runner_missing_from_the_membership_is_not_assigned() -> None:
    claim = decide("stranger", TWO, 60)
    assert claim.reason == R.NOT_ASSIGNED_SLOT
    assert claim.runner_position is None
    assert claim.assigned_runner_id == "a"


def test_a_runner_not_allowed_to_run_services_takes_no_slot() -> None:
    runners = [member("child", 9000, allowed=False), *TWO]
    assert decide("child", runners, 60).reason == R.NOT_ASSIGNED_SLOT
    assert decide("a", runners, 60).stable_runner_count == 2


def test_without_eligible_runners_the_reason_is_no_stable_runners() -> None:
    assert decide("a", [], 60).reason == R.NO_STABLE_RUNNERS
    only_children = [member("a", allowed=False)]
    assert decide("a", only_children, 60).reason == R.NO_STABLE_RUNNERS


def test_a_runner_in_its_grace_window_keeps_its_slot_but_may_not_start() -> None:
    runners = [member("a", 30), member("b", 20)]
    claim = decide("a", runners, 10, stabilization=60)
    assert claim.reason == R.SCHEDULED_RUNNER_IN_GRACE
    assert claim.is_slot_owner_now
    assert not claim.should_try_start
    assert claim.skip_reason == R.SCHEDULED_RUNNER_IN_GRACE
    assert decide("b", runners, 10, stabilization=60).reason == R.NOT_ASSIGNED_SLOT, (
        "a slot reserved for a runner in grace is not handed to anyone else"
    )
    assert decide("a", runners, 31, stabilization=60).reason == R.ASSIGNED


def test_a_margin_that_leaves_no_window_is_slot_window_invalid() -> None:
    runners = [member(f"r{i}", 100 - i) for i in range(5)]
    claims = [decide(r.runner_id, runners, 130, interval=5, margin=1) for r in runners]
    assert {c.reason for c in claims} == {R.SLOT_WINDOW_INVALID}
    assert [c.is_slot_owner_now for c in claims] == [False, False, True, False, False]
    message = claims[0].skip_message
    assert "atomic_service_interval_minutes above 5 (e.g. 10)" in message
    assert "atomic_service_spread_margin_minutes below 1 (e.g. 0.5)" in message


def test_a_start_later_than_the_allowed_fraction_of_the_window_is_late() -> None:
    claim = decide("a", TWO, 150, max_fraction=0.5)
    assert claim.reason == R.LATE_START
    assert claim.late_start_fraction == pytest.approx(150 / 240)
    assert claim.skip_reason == R.LATE_START
    assert decide("a", TWO, 110, max_fraction=0.5).reason == R.ASSIGNED


def test_a_max_start_fraction_of_one_disables_the_late_start_check() -> None:
    assert decide("a", TWO, 239, max_fraction=1.0).reason == R.ASSIGNED


def test_a_single_runner_owns_the_whole_cycle_whatever_the_margin() -> None:
    claim = decide("a", [member("a")], 599, margin=20)
    assert claim.reason == R.ASSIGNED
    assert (claim.slot_start, claim.slot_end) == (T0, at(600))


def test_the_cycle_starts_at_the_last_multiple_of_the_interval() -> None:
    claim = decide("b", TWO, 3 * 600 + 310)
    assert claim.cycle_start == at(1800)
    assert claim.reason == R.ASSIGNED
    assert (claim.slot_start, claim.slot_end) == (at(2100), at(2340))


def test_runners_are_ordered_by_creation_time_then_id() -> None:
    same_time = [member("b", 100), member("a", 100), member("old", 500)]
    positions = {r.runner_id: decide(r.runner_id, same_time, 0).runner_position for r in same_time}
    assert positions == {"old": 0, "a": 1, "b": 2}


def test_the_run_id_is_the_same_for_every_decision_in_one_slot() -> None:
    first = decide("a", TWO, 10).atomic_service_run
    again = decide("a", TWO, 200).atomic_service_run
    other = decide("b", TWO, 310).atomic_service_run
    assert first is not None and again is not None and other is not None
    assert first.atomic_service_run_id == again.atomic_service_run_id
    assert first.atomic_service_run_id != other.atomic_service_run_id


def test_only_grace_invalid_window_and_late_start_are_persisted() -> None:
    persisted = {reason for reason in R if reason.is_persisted()}
    assert persisted == {R.SCHEDULED_RUNNER_IN_GRACE, R.SLOT_WINDOW_INVALID, R.LATE_START}


def test_the_claim_is_its_own_decision() -> None:
    claim = decide("a", TWO, 60)
    assert claim.decision is claim


def test_a_run_can_be_built_from_the_flat_runner_and_run_ids() -> None:
    run = AtomicServiceRun(runner_id="r1", atomic_service_run_id="run-9")
    assert run.atomic_service_id == AtomicServiceId("r1", "run-9")
    composed = AtomicServiceRun(AtomicServiceId("r1", "run-9"))
    assert (composed.runner_id, composed.atomic_service_run_id) == ("r1", "run-9")


def test_a_run_with_contradicting_ids_is_refused() -> None:
    with pytest.raises(ValueError, match="runner_id"):
        AtomicServiceRun(AtomicServiceId("r1", "run-9"), runner_id="r2")


def test_a_run_without_any_runner_is_refused() -> None:
    with pytest.raises(ValueError, match="runner_id"):
        AtomicServiceRun()
