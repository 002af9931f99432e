"""The suite's own machinery: status paths, capability detection, the config fixture's forms."""

from __future__ import annotations

import uuid
from itertools import pairwise

import pytest

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import Capabilities, ConformanceConfig
from pynenc.testing.contracts.orchestrator import (
    ILLEGAL_MOVES,
    LEGAL_MOVES,
    path_from_registered,
)


@pytest.fixture
def mem_app(mem_stack: dict[str, str]) -> Pynenc:
    return Pynenc(app_id=f"harness-{uuid.uuid4().hex[:8]}", config_values=mem_stack)


@pytest.mark.parametrize("target", list(InvocationStatus))
def test_every_status_is_reached_from_registered_by_legal_moves(
    target: InvocationStatus,
) -> None:
    path = path_from_registered(target)
    assert (path[-1] if path else InvocationStatus.REGISTERED) == target
    steps = [InvocationStatus.REGISTERED, *path]
    assert all(a.can_move_to(b) for a, b in pairwise(steps))


def test_legal_and_illegal_moves_cover_every_pair_once() -> None:
    pairs = set(LEGAL_MOVES) | set(ILLEGAL_MOVES)
    assert len(pairs) == len(LEGAL_MOVES) + len(ILLEGAL_MOVES) == len(InvocationStatus) ** 2


def test_undeclared_capabilities_of_the_memory_stack_are_detected(mem_app: Pynenc) -> None:
    resolved = Capabilities().resolve(mem_app)
    assert resolved == Capabilities(concurrent_access=True, cross_process=False, notifications=True)


def test_declared_capabilities_win_over_detection(mem_app: Pynenc) -> None:
    declared = Capabilities(cross_process=True, notifications=False)
    assert declared.resolve(mem_app) == declared


def test_an_unknown_capability_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrent_access"):
        Capabilities().has("telepathy")


def test_the_config_fixture_may_return_values_or_a_conformance_config() -> None:
    values = {"broker_cls": "MemBroker"}
    assert ConformanceConfig.of(values) == ConformanceConfig(values)
    full = ConformanceConfig(values, "pynenc.toml")
    assert ConformanceConfig.of(full) is full
    with pytest.raises(TypeError, match="pynenc_conformance_config"):
        ConformanceConfig.of(["broker_cls"])  # type: ignore[arg-type]
