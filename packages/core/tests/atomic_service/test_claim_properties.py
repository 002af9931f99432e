"""Properties of the slot schedule: one runner at a time for a shared view, and what the spread
margin protects against when views disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from pynenc.orchestrator.atomic_service import (
    ActiveRunnerInfo,
    AtomicServiceClaim,
    decide_atomic_service_claim,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)

members_strategy = st.lists(
    st.tuples(st.integers(min_value=0, max_value=12).map(lambda m: m * 30), st.booleans()),
    min_size=1,
    max_size=12,
).map(
    lambda specs: [
        ActiveRunnerInfo(f"runner-{i:02d}", T0 - timedelta(seconds=age), T0, allowed)
        for i, (age, allowed) in enumerate(specs)
    ]
)
"""Up to 12 runners, ages in 30 s steps (so creation-time ties are common), random eligibility."""


def decide(
    runner_id: str,
    view: list[ActiveRunnerInfo],
    now: float,
    *,
    interval: float,
    margin: float,
    stabilization: float = 0.0,
    max_fraction: float = 1.0,
) -> AtomicServiceClaim:
    return decide_atomic_service_claim(
        runner_id=runner_id,
        active_runners=view,
        current_time=now,
        service_interval_minutes=interval,
        spread_margin_minutes=margin,
        membership_stabilization_seconds=stabilization,
        max_start_slot_fraction=max_fraction,
    )


@settings(max_examples=300, deadline=None)
@given(
    members=members_strategy,
    offset=st.floats(min_value=-86_400, max_value=86_400, allow_nan=False),
    interval=st.floats(min_value=0.05, max_value=60),
    margin=st.floats(min_value=0, max_value=3),
    stabilization=st.sampled_from([0.0, 30.0, 300.0]),
    max_fraction=st.floats(min_value=0.01, max_value=1.0),
)
def test_for_one_shared_membership_at_most_one_runner_is_cleared_at_any_instant(
    members: list[ActiveRunnerInfo],
    offset: float,
    interval: float,
    margin: float,
    stabilization: float,
    max_fraction: float,
) -> None:
    now = T0.timestamp() + offset
    claims = [
        decide(
            r.runner_id,
            members,
            now,
            interval=interval,
            margin=margin,
            stabilization=stabilization,
            max_fraction=max_fraction,
        )
        for r in members
    ]
    cleared = [c.runner_id for c in claims if c.should_try_start]
    assert len(cleared) <= 1
    assert len({c.assigned_runner_id for c in claims}) == 1, "every runner agrees on the owner"
    if cleared:
        assert cleared == [claims[0].assigned_runner_id]


@settings(max_examples=200, deadline=None)
@given(
    members=members_strategy,
    interval=st.floats(min_value=0.05, max_value=60),
    margin=st.floats(min_value=0, max_value=3),
)
def test_for_one_shared_membership_the_windows_of_a_cycle_never_overlap(
    members: list[ActiveRunnerInfo], interval: float, margin: float
) -> None:
    """Runs are time-boxed to their window's end, so disjoint windows mean disjoint runs."""
    claims = [
        decide(r.runner_id, members, T0.timestamp(), interval=interval, margin=margin)
        for r in members
    ]
    windows = sorted(
        (c.slot_start, c.slot_end)
        for c in claims
        if c.slot_start is not None and c.slot_end is not None
    )
    for (_, end), (next_start, _) in pairwise(windows):
        assert end <= next_start


def occupied_intervals(
    runner_id: str, view: list[ActiveRunnerInfo], margin: float, interval: float
) -> list[tuple[float, float]]:
    """Every (start, end) a run by ``runner_id`` could occupy in the first cycle, checking each
    second: a run starts at a cleared instant and is time-boxed to its window's end."""
    intervals = []
    for second in range(int(interval * 60)):
        claim = decide(runner_id, view, T0.timestamp() + second, interval=interval, margin=margin)
        run = claim.atomic_service_run
        if run is not None and run.slot_end is not None:
            intervals.append((float(second), run.slot_end.timestamp() - T0.timestamp()))
    return intervals


def overlapping_pairs(
    views: dict[str, list[ActiveRunnerInfo]], margin: float, interval: float
) -> set[tuple[str, str]]:
    occupied = {rid: occupied_intervals(rid, view, margin, interval) for rid, view in views.items()}
    pairs = set()
    names = sorted(occupied)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if any(
                a_start < b_end and b_start < a_end
                for a_start, a_end in occupied[first]
                for b_start, b_end in occupied[second]
            ):
                pairs.add((first, second))
    return pairs


OLDEST = ActiveRunnerInfo("a", T0 - timedelta(hours=2), T0, True)
MIDDLE = ActiveRunnerInfo("b", T0 - timedelta(hours=1), T0, True)
NEWCOMER = ActiveRunnerInfo("c", T0 - timedelta(seconds=5), T0, True)
SKEWED_VIEWS = {
    "a": [OLDEST, MIDDLE],
    "b": [OLDEST, MIDDLE, NEWCOMER],
    "c": [OLDEST, MIDDLE, NEWCOMER],
}
"""Runner a has not yet read the newcomer's first heartbeat; b and c have."""


def test_skewed_views_overlap_without_a_margin() -> None:
    """With a 6-minute interval, a (seeing 2 members) holds [0, 180 s) while b (seeing 3) holds
    [120 s, 240 s): a run a starts at 100 s may still be going when b starts at 120 s."""
    assert overlapping_pairs(SKEWED_VIEWS, margin=0.0, interval=6.0) == {("a", "b")}


def test_a_margin_shorter_than_the_boundary_shift_still_overlaps() -> None:
    assert overlapping_pairs(SKEWED_VIEWS, margin=0.5, interval=6.0) == {("a", "b")}


def test_a_margin_covering_the_boundary_shift_prevents_overlap_under_skewed_views() -> None:
    """What the margin buys: the views differ by one member, which moves the boundary between
    a's and b's slots from 120 s (3 members) to 180 s (2 members), a shift of interval/2 -
    interval/3 = 1 minute. A spread margin of that 1 minute cuts a's stale window to
    [0, 120 s), so every run a can start, time-boxed to its window, ends by the earliest
    instant b can start. The margin protects against exactly that much disagreement (plus the
    same amount of step overrun or clock skew); views further apart need the membership
    stabilization window."""
    assert overlapping_pairs(SKEWED_VIEWS, margin=1.0, interval=6.0) == set()
