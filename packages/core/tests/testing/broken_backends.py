"""Backends that break one rule each, to prove the conformance suite catches them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

from pynenc.app import Pynenc
from pynenc.broker.base_broker import BrokerMessage
from pynenc.broker.mem_broker import MemBroker
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatusRecord, TransitionRule
from pynenc.orchestrator.base_orchestrator import CasResult
from pynenc.orchestrator.mem_orchestrator import MemOrchestrator

RACE_WINDOW_SECONDS = 0.002
"""How long the non-atomic orchestrator takes between its read and its write."""


class LossyBroker(MemBroker):
    """Silently drops every third routed message."""

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._routed = itertools.count(1)
        self._count_lock = threading.Lock()

    def _route(self, messages: Sequence[BrokerMessage]) -> None:
        with self._count_lock:
            kept = [m for m in messages if next(self._routed) % 3]
        super()._route(kept)


class NonAtomicOrchestrator(MemOrchestrator):
    """Validates a status change, then writes it in a separate step: racing runners all pass
    the check before any of them writes."""

    def _cas_status(
        self, invocation_id: InvocationId, rule: TransitionRule, record: InvocationStatusRecord
    ) -> CasResult:
        with self._lock:
            row = self._rows.get(invocation_id)
        previous = row.record if row else None
        if row is None or not rule.allows(previous, record.runner_id or ""):
            return CasResult(False, previous)
        time.sleep(RACE_WINDOW_SECONDS)  # the deliberate flaw: a gap between check and write
        with self._lock:
            row.record = record
        return CasResult(True, previous)
