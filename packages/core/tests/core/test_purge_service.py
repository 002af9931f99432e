"""The hourly purge of final invocations runs among the atomic services."""

from __future__ import annotations

import threading
from datetime import timedelta

from pynenc.exceptions import InvocationStatusNotFoundError
from pynenc.invocation.status import InvocationStatus as S
from pynenc.runner.atomic_services import AtomicServiceContext, default_atomic_services
from pynenc.runner.runner_context import RunnerContext
from pynenc.util.clock import FakeClock

from . import tasks_for_tests as t
from .conftest import mem_app


def test_purge_service_forgets_old_final_invocations_but_keeps_history() -> None:
    app = mem_app(auto_final_invocation_purge_hours=1.0)
    app.clock = FakeClock()
    ctx = RunnerContext.current("TestRunner", "purger")
    invocation = t.bind(app, t.add)(1, 2)
    for status in (S.PENDING, S.RUNNING):
        app.orchestrator.set_invocation_status(invocation.invocation_id, status, ctx)
    app.orchestrator.set_invocation_result(invocation.invocation_id, 3, ctx)
    service = next(s for s in default_atomic_services(app) if s.name == "purge_final_invocations")
    app.clock.advance(timedelta(hours=2).total_seconds())
    deadline = app.clock.time() + 60
    assert service.run(AtomicServiceContext(app, ctx, deadline, threading.Event()))
    try:
        app.orchestrator.get_invocation_status(invocation.invocation_id, use_cache=False)
        raise AssertionError("the final invocation should have been purged")
    except InvocationStatusNotFoundError:
        pass
    assert app.state_backend.get_history(invocation.invocation_id)[-1].status_record.status == (
        S.SUCCESS
    )
