"""Calls made in a burst are registered in the background, in batches (outbox.py): the caller
does not wait for them, every other command of the process waits until they are stored, an
unreachable server keeps them and says so, a refusal is reported, and an exiting process
stores what it queued."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.backends.redis import outbox as outbox_module
from pynenc.backends.redis.exceptions import RedisRegistrationError, RedisUnavailableError
from pynenc.backends.redis.outbox import Outbox
from pynenc.backends.redis.store import RedisStore
from pynenc.invocation.status import InvocationStatus

from .conftest import LogRecords

TESTS = Path(__file__).parent


@pytest.fixture
def app(redis_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Pynenc]:
    monkeypatch.syspath_prepend(str(TESTS))
    # every call after the first is part of a burst, however slow the machine
    monkeypatch.setattr(outbox_module, "BURST_SECONDS", 60.0)
    app = Pynenc(
        app_id=f"outbox-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "logging_level": "warning"},
    )
    yield app
    app.orchestrator.store.outbox.flush(10)  # type: ignore[attr-defined]
    app.purge()


def _noop(app: Pynenc) -> Any:
    from redis_test_tasks import noop

    task = app.get_task(noop.task_id)
    task()  # sent by its caller: nothing was queued, and no call came just before
    return task


def _outbox(app: Pynenc) -> Outbox:
    store: RedisStore = app.orchestrator.store  # type: ignore[attr-defined]
    return store.outbox


class _Gate:
    """Holds the sender before each send until opened; records the size of each batch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.reached = threading.Event()
        self.batches: list[int] = []
        send = Outbox._send

        def gated(outbox: Outbox, batch: Sequence[Any]) -> BaseException | None:
            self.reached.set()
            assert self.opened.wait(30), "the test never let the sender go"
            self.batches.append(sum(len(item.ids) for item in batch))
            return send(outbox, batch)  # type: ignore[arg-type]

        monkeypatch.setattr(Outbox, "_send", gated)


def _status(app: Pynenc, invocation: Any) -> InvocationStatus:
    return app.orchestrator.get_invocation_status(invocation.invocation_id)


def test_calls_queued_while_a_batch_is_on_its_way_are_sent_together(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    noop = _noop(app)
    gate = _Gate(monkeypatch)
    invocations = [noop()]
    assert gate.reached.wait(10)  # the sender took the first call and is held
    # the calls return without any round trip of their own
    invocations += [noop() for _ in range(29)]
    assert _outbox(app).unsent
    gate.opened.set()
    _outbox(app).flush(10)
    # the calls queued while the first was on its way went together
    assert gate.batches == [1, 29]
    assert {_status(app, i) for i in invocations} == {InvocationStatus.REGISTERED}
    # each call keeps the time it was made at
    times = [app.orchestrator.get_invocation_status_record(i.invocation_id) for i in invocations]
    assert [r.timestamp for r in times] == sorted(r.timestamp for r in times)
    assert len({r.timestamp for r in times}) > 1


def test_any_other_command_waits_for_the_registrations_queued_before_it(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    noop = _noop(app)
    gate = _Gate(monkeypatch)
    invocation = noop()
    seen: list[Any] = []

    def read() -> None:
        try:
            seen.append(_status(app, invocation))
        except Exception as exc:  # what a read too early gets: the test fails on it
            seen.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(0.3)
    # a reader that did not wait would have found nothing stored by now
    assert reader.is_alive() and not seen
    gate.opened.set()
    reader.join(10)
    assert seen == [InvocationStatus.REGISTERED]


def test_queued_calls_are_kept_while_the_server_is_unreachable(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    noop = _noop(app)
    down = threading.Event()
    down.set()
    script = RedisStore.script

    def unreachable(store: RedisStore, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "register" and down.is_set():
            raise RedisUnavailableError("Cannot reach Redis (test)")
        return script(store, name, *args, **kwargs)

    monkeypatch.setattr(RedisStore, "script", unreachable)
    gate = _Gate(monkeypatch)
    queued = [noop() for _ in range(5)]
    gate.opened.set()
    with pytest.raises(RedisRegistrationError, match=r"5 calls .* not registered yet.*kept"):
        _outbox(app).flush(10)
    # a new call says so too, and is not queued behind them
    with pytest.raises(RedisRegistrationError, match="not registered yet"):
        noop()
    # so does any other command: it would not see the calls made before it
    with pytest.raises(RedisRegistrationError):
        app.orchestrator.count_invocations()
    down.clear()
    _outbox(app).flush(10)
    assert {_status(app, i) for i in queued} == {InvocationStatus.REGISTERED}
    # the first call and the five queued
    assert app.orchestrator.count_invocations() == {InvocationStatus.REGISTERED: 6}


def test_a_registration_the_server_refuses_is_logged_and_its_wait_raises(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    noop = _noop(app)
    store: RedisStore = app.orchestrator.store  # type: ignore[attr-defined]
    seq = store.key("o", "seq")
    client = store.connection.client
    kept = client.get(seq)
    client.delete(seq)
    client.rpush(seq, "not a counter")  # a key of another type at one of the app's names
    records = LogRecords()
    app.logger.addHandler(records)
    try:
        refused = [noop() for _ in range(3)]
        _outbox(app).flush(10)
    finally:
        client.delete(seq)
        client.set(seq, kept)
        app.logger.removeHandler(records)
    ids = [i.invocation_id for i in refused]
    logged = "\n".join(records.messages)
    assert "refused the registration" in logged
    assert all(inv_id in logged for inv_id in ids)
    with pytest.raises(RedisRegistrationError, match=f"{ids[0]} was never registered"):
        refused[0].wait(timeout=1)
    # the server is fine again: calls are registered as before
    after = noop()
    _outbox(app).flush(10)
    assert _status(app, after) == InvocationStatus.REGISTERED


_EXITING_CLIENT = """
import atexit, sys, threading
sys.path.insert(0, {tests!r})
from pynenc import Pynenc
from pynenc.backends.redis import outbox
from pynenc.backends.redis.outbox import Outbox

outbox.BURST_SECONDS = 60.0
opened = threading.Event()
send = Outbox._send
def held(self, batch):
    opened.wait(30)
    return send(self, batch)
Outbox._send = held
atexit.register(opened.set)  # runs first (last registered): lets the exit flush proceed

app = Pynenc(app_id={app_id!r}, config_values={config!r})
from redis_test_tasks import noop
task = app.get_task(noop.task_id)
task()
for _ in range(20):
    task()
print("unsent", app.orchestrator.store.outbox.unsent, flush=True)
"""


def test_a_process_that_exits_stores_what_it_queued(redis_config: dict[str, Any]) -> None:
    app_id = f"outbox-exit-{uuid.uuid4().hex[:8]}"
    config = {**redis_config, "logging_level": "warning"}
    code = textwrap.dedent(_EXITING_CLIENT).format(tests=str(TESTS), app_id=app_id, config=config)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    assert done.returncode == 0, done.stderr
    assert "unsent True" in done.stdout  # the calls were still queued when the script ended
    app = Pynenc(app_id=app_id, config_values=config)
    try:
        assert app.orchestrator.count_invocations() == {InvocationStatus.REGISTERED: 21}
    finally:
        app.purge()


def test_with_background_registration_off_every_call_is_stored_before_it_returns(
    redis_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setattr(outbox_module, "BURST_SECONDS", 60.0)
    app = Pynenc(
        app_id=f"outbox-off-{uuid.uuid4().hex[:8]}",
        config_values={**redis_config, "redis_register_bursts_in_background": False},
    )
    try:
        noop = _noop(app)
        for _ in range(10):
            noop()
            assert not _outbox(app).unsent
        assert app.orchestrator.count_invocations() == {InvocationStatus.REGISTERED: 11}
    finally:
        app.purge()


def test_an_idle_sender_ends_and_the_next_burst_starts_another(
    app: Pynenc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "IDLE_SECONDS", 0.05)
    noop = _noop(app)
    first = noop()
    sender = _outbox(app)._sender
    assert sender is not None
    sender.join(10)  # nothing more to send: it ends on its own
    assert not sender.is_alive() and _outbox(app)._sender is None
    second = noop()
    _outbox(app).flush(10)
    assert _outbox(app)._sender is not sender
    assert {_status(app, first), _status(app, second)} == {InvocationStatus.REGISTERED}
