"""Isolation by app id: every key of an app starts with its prefix, and an app on a server that
holds another app's data sees none of it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.exceptions import InvocationNotFoundError, InvocationStatusNotFoundError
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing import tasks
from pynenc.testing.harness import RunningRunner


@pytest.fixture
def make_app(redis_config: dict[str, Any]) -> Any:
    apps: list[Pynenc] = []

    def make(app_id: str | None = None, **values: Any) -> Pynenc:
        app = Pynenc(
            app_id=app_id or f"isolation-{uuid.uuid4().hex[:8]}",
            config_values={**redis_config, "logging_level": "warning", **values},
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.purge()


def _run_some_work(app: Pynenc) -> list[Any]:
    runner = RunningRunner(ThreadRunner(app)).start()
    try:
        add = app.get_task(tasks.add.task_id)
        invocations = [add(i, i) for i in range(5)]
        assert [inv.wait(10) for inv in invocations] == [2 * i for i in range(5)]
        app.client_data_store.store_if_large("x" * 5000)
        app.trigger._store_condition("condition", "{}")
        return invocations
    finally:
        runner.stop()


def test_every_key_an_app_writes_starts_with_its_prefix(
    make_app: Any, redis_server: RedisServer
) -> None:
    app = make_app(min_size_to_cache=100)
    _run_some_work(app)
    client = redis_server.client()
    prefix = key_prefix(app.app_id)
    keys = set(client.scan_iter(match="*"))
    assert any(k.startswith(prefix) for k in keys)
    strays = {k for k in keys if not k.startswith("pynenc:{")} - {"pynenc:apps"}
    assert strays == set(), "only the shared app-info hash lives outside an app's prefix"


def test_an_app_sees_nothing_of_another_apps_data(make_app: Any) -> None:
    owner = make_app(min_size_to_cache=100)
    invocations = _run_some_work(owner)
    stranger = make_app()
    invocation_id = invocations[0].invocation_id
    assert stranger.orchestrator.count_invocations() == {}
    with pytest.raises(InvocationStatusNotFoundError):
        stranger.orchestrator.get_invocation_status(invocation_id, use_cache=False)
    with pytest.raises(InvocationNotFoundError):
        stranger.state_backend.get_invocation(invocation_id)
    assert stranger.state_backend.get_history(invocation_id) == []
    assert stranger.broker.count_invocations() == 0
    assert stranger.trigger._get_all_conditions() == {}
    assert owner.orchestrator.count_invocations() == {InvocationStatus.SUCCESS: 5}


def test_an_app_whose_id_extends_another_ones_shares_no_key(make_app: Any) -> None:
    short = make_app(app_id="iso")
    longer = make_app(app_id="iso}:o:inv")
    invocations = _run_some_work(short)
    assert longer.orchestrator.count_invocations() == {}
    assert not longer.state_backend.invocation_exists(invocations[0].invocation_id)


def test_prefixes_escape_what_could_make_one_app_prefix_another() -> None:
    assert key_prefix("app") == "pynenc:{app}:"
    assert key_prefix("a}:b") == "pynenc:{a%7D%3Ab}:"
    assert key_prefix("a*") != key_prefix("a?")
    assert not key_prefix("a}:b").startswith(key_prefix("a"))


def test_purging_an_app_leaves_the_other_apps_keys(
    make_app: Any, redis_server: RedisServer
) -> None:
    kept, purged = make_app(), make_app()
    _run_some_work(kept)
    _run_some_work(purged)
    purged.purge()
    client = redis_server.client()
    assert list(client.scan_iter(match=key_prefix(purged.app_id) + "*")) == []
    assert kept.orchestrator.count_invocations() == {InvocationStatus.SUCCESS: 5}
