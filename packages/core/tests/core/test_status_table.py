"""The status machine as data: the rules every backend applies."""

from __future__ import annotations

import itertools

import pytest

from pynenc.exceptions import InvalidStatusTransitionError, InvocationOwnershipError
from pynenc.invocation.status import (
    FINAL_STATUSES,
    OWNED_STATUSES,
    STATUS_TABLE,
    InvocationStatus,
    InvocationStatusRecord,
    check_transition,
    render_status_table,
    transition_rule,
)

S = InvocationStatus


def record(status: InvocationStatus, runner: str = "owner") -> InvocationStatusRecord:
    return InvocationStatusRecord(status, runner)


def test_every_status_has_a_row() -> None:
    assert set(STATUS_TABLE) == set(InvocationStatus)


def test_final_statuses_lead_nowhere() -> None:
    assert {S.SUCCESS, S.FAILED, S.CONCURRENCY_CONTROLLED_FINAL} == FINAL_STATUSES
    for status in FINAL_STATUSES:
        assert not STATUS_TABLE[status].next_statuses


def test_owned_statuses_are_pending_running_paused() -> None:
    assert {S.PENDING, S.RUNNING, S.PAUSED} == OWNED_STATUSES


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s, row in STATUS_TABLE.items() for t in row.next_statuses],
)
def test_listed_moves_are_allowed_for_the_owner(source: S, target: S) -> None:
    check_transition("inv", record(source), target, "owner")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (s, t)
        for s, t in itertools.product(InvocationStatus, InvocationStatus)
        if t not in STATUS_TABLE[s].next_statuses
    ],
)
def test_unlisted_moves_raise_invalid_transition(source: S, target: S) -> None:
    with pytest.raises(InvalidStatusTransitionError) as info:
        check_transition("inv", record(source), target, "owner")
    assert info.value.from_status == source
    assert info.value.to_status == target


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (s, t)
        for s in OWNED_STATUSES
        for t in STATUS_TABLE[s].next_statuses
        if t not in {S.PENDING_RECOVERY, S.RUNNING_RECOVERY}
    ],
)
def test_a_non_owner_cannot_leave_an_owned_status(source: S, target: S) -> None:
    with pytest.raises(InvocationOwnershipError) as info:
        check_transition("inv", record(source, "owner"), target, "intruder")
    assert info.value.owner_id == "owner"
    assert "intruder" in str(info.value)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.PENDING, S.PENDING_RECOVERY),
        (S.RUNNING, S.RUNNING_RECOVERY),
        (S.PAUSED, S.RUNNING_RECOVERY),
    ],
)
def test_recovery_may_take_an_invocation_from_its_owner(source: S, target: S) -> None:
    check_transition("inv", record(source, "dead-runner"), target, "recoverer")


def test_only_registration_starts_from_nothing() -> None:
    check_transition("inv", None, S.REGISTERED, "r")
    with pytest.raises(InvalidStatusTransitionError):
        check_transition("inv", None, S.PENDING, "r")


def test_transition_rule_splits_sources_by_ownership() -> None:
    rule = transition_rule(S.SUCCESS)
    assert rule.from_owner_only == {S.RUNNING}
    assert not rule.from_any_runner
    pending = transition_rule(S.PENDING)
    assert pending.from_any_runner == {S.REGISTERED, S.REROUTED, S.RETRY}


def test_owner_id_is_the_runner_of_an_owned_record_only() -> None:
    assert record(S.RUNNING, "r1").owner_id == "r1"
    assert record(S.REGISTERED, "r1").owner_id is None


def test_record_round_trips_through_dict() -> None:
    rec = record(S.RETRY, "r9")
    assert InvocationStatusRecord.from_dict(rec.to_dict()) == rec


def test_render_lists_every_status() -> None:
    text = render_status_table()
    for status in InvocationStatus:
        assert status.value in text
