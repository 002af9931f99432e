"""Recovery end to end: a worker process killed with SIGKILL loses nothing."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from pynenc.invocation.status import InvocationStatus

from .conftest import E2E, wait_for

pytestmark = pytest.mark.slow

FAST_RECOVERY = {
    "PYNENC__RUNNER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
    "PYNENC__RUNNER_CONSIDERED_DEAD_AFTER_MINUTES": "0.05",
    "PYNENC__ATOMIC_SERVICE_INTERVAL_MINUTES": "0.05",
    "PYNENC__ATOMIC_SERVICE_SPREAD_MARGIN_MINUTES": "0.005",
    "PYNENC__ATOMIC_SERVICE_CHECK_INTERVAL_MINUTES": "0.002",
    "PYNENC__RECOVER_RUNNING_INVOCATIONS_CRON": "* * * * * *",
    "PYNENC__RECOVER_PENDING_INVOCATIONS_CRON": "* * * * * *",
    "PYNENC__MAX_PENDING_SECONDS": "2",
    "PYNENC__BROKER_LEASE_SECONDS": "2",
}
"""Timings shortened from minutes to seconds: a runner silent for 3 s is dead, the services
run every second inside 3-second cycles, an unacknowledged message returns after 2 s."""


def test_sigkill_of_a_worker_mid_run_loses_no_invocation(e2e: E2E) -> None:
    options = ("--runner-class", "ThreadRunner", "--max-threads", "4")
    victim = e2e.start_runner(*options, **FAST_RECOVERY)
    survivor = e2e.start_runner(*options, **FAST_RECOVERY)
    invocations = [e2e.tasks.slow_square(i, 0.02) for i in range(500)]
    orchestrator = e2e.app.orchestrator
    wait_for(
        lambda: orchestrator.count_invocations().get(InvocationStatus.SUCCESS, 0) >= 100,
        60,
        "a fifth of the work to finish",
    )
    victim.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.process.wait(10)
    assert [inv.wait(timeout=120) for inv in invocations] == [i * i for i in range(500)]
    recovered_after = time.monotonic() - killed_at
    successes = Counter(
        inv.invocation_id
        for inv in invocations
        for h in e2e.app.state_backend.get_history(inv.invocation_id)
        if h.status_record.status == InvocationStatus.SUCCESS
    )
    assert set(successes.values()) == {1}, "every invocation succeeds exactly once"
    recovered = [
        inv
        for inv in invocations
        if InvocationStatus.RUNNING_RECOVERY
        in [h.status_record.status for h in e2e.app.state_backend.get_history(inv.invocation_id)]
    ]
    assert survivor.process.poll() is None
    print(f"all 500 finished {recovered_after:.1f}s after the SIGKILL; recovered {len(recovered)}")
