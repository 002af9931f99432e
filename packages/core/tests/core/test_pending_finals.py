"""A waiter on a large group looks at the oldest pending invocations first, a window at a time:
a check never reads more than one window past the first invocation that is not final."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus, InvocationStatusRecord
from pynenc.orchestrator.base_orchestrator import PendingFinals

RECORD = InvocationStatusRecord(InvocationStatus.SUCCESS, "runner", datetime.now(UTC))
IDS = [InvocationId(f"inv-{n}") for n in range(10)]


class Store:
    def __init__(self) -> None:
        self.final: set[InvocationId] = set()
        self.reads: list[list[InvocationId]] = []

    def read(self, ids: list[InvocationId]) -> dict[InvocationId, InvocationStatusRecord]:
        self.reads.append(ids)
        return {i: RECORD for i in ids if i in self.final}


@pytest.fixture(autouse=True)
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PendingFinals, "WINDOW", 3)


def test_a_check_stops_at_the_first_window_that_is_not_all_final() -> None:
    store, pending = Store(), PendingFinals(IDS + IDS[:2])
    store.final = set(IDS[:4]) | set(IDS[6:])
    assert pending.check(store.read)
    assert store.reads == [IDS[0:3], IDS[3:6]], "nothing past the window holding inv-4 is read"
    assert set(pending.found) == set(IDS[:4])
    store.reads.clear()
    assert pending.check(store.read), "inv-6 is final"
    assert store.reads == [[IDS[4], IDS[5], IDS[6]]], "the next check starts at inv-4, in order"
    store.reads.clear()
    pending.check(store.read)
    assert store.reads == [[IDS[4], IDS[5], IDS[7]]], "inv-6 is not read again"


def test_the_waiter_is_done_once_every_invocation_was_found_final() -> None:
    store, pending = Store(), PendingFinals(IDS)
    store.final = set(IDS[1:])
    pending.check(store.read)
    assert pending
    store.final.add(IDS[0])
    assert pending.check(store.read)
    assert not pending
    assert list(pending.found) == [*IDS[1:3], IDS[0], *IDS[3:]]
    assert sum(len(read) for read in store.reads) == 3 + 8, "each id read once after the head"
