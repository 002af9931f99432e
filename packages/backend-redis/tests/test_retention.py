"""Redis memory stays bounded: the orchestrator forgets final invocations after
``auto_final_invocation_purge_hours``, and with ``state_retention_hours`` the state backend's
keys of a finished invocation expire."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.testing import tasks


@pytest.fixture
def app(redis_config: dict[str, Any]) -> Iterator[Pynenc]:
    app = Pynenc(
        app_id=f"retention-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "state_retention_hours": 2.0},
    )
    yield app
    app.purge()


def _finish(app: Pynenc) -> str:
    ctx = RunnerContext.current("RetentionTest", f"retention-{uuid.uuid4().hex}")
    invocation_id = app.get_task(tasks.add.task_id)(1, 2).invocation_id
    for status in (InvocationStatus.PENDING, InvocationStatus.RUNNING):
        app.orchestrator.set_invocation_status(invocation_id, status, ctx)
    app.orchestrator.set_invocation_result(invocation_id, 3, ctx)
    return invocation_id


def test_a_finished_invocations_state_expires_after_the_retention(
    app: Pynenc, redis_server: RedisServer
) -> None:
    invocation_id = _finish(app)
    client = redis_server.client()
    prefix = key_prefix(app.app_id)
    for kind in ("s:inv:", "s:hist:", "s:res:"):
        ttl = client.ttl(f"{prefix}{kind}{invocation_id}")
        assert 2 * 3600 - 60 < ttl <= 2 * 3600, f"{kind} keeps {ttl}s"


def test_purging_final_invocations_frees_the_orchestrators_keys(
    app: Pynenc, redis_server: RedisServer
) -> None:
    invocation_id = _finish(app)
    removed = app.orchestrator.purge_final_invocations(
        older_than=app.clock.now() + timedelta(seconds=1)
    )
    assert removed == 1
    client = redis_server.client()
    prefix = key_prefix(app.app_id)
    assert not client.exists(f"{prefix}o:inv:{invocation_id}")
    assert not client.zscore(f"{prefix}o:st:SUCCESS", invocation_id)
    assert app.state_backend.get_result(invocation_id) == 3
