"""Tasks for the orchestration scenarios: concurrency control, cycle control, blocking control.

Declared on :data:`pynenc.testing.tasks.tasks_app` like the other suite tasks, and rebound to each
test's app through ``app.get_task``.
"""

from __future__ import annotations

import threading
import time

from pynenc.testing.tasks import on_current_app, tasks_app


@tasks_app.task(running_concurrency="KEYS", key_arguments=("key",))
def exclusive_per_key(key: str, index: int, seconds: float) -> int:
    """Holds its key for ``seconds``: at most one may run per key at a time."""
    time.sleep(seconds)
    return index


@tasks_app.task(running_concurrency="TASK", reroute_on_concurrency_control=False)
def exclusive_or_dropped(seconds: float) -> float:
    """One at a time for the whole task; a second one while the first is active is dropped."""
    time.sleep(seconds)
    return seconds


@tasks_app.task(registration_concurrency="ARGUMENTS")
def registered_once_per_arguments(x: int) -> int:
    return x


@tasks_app.task(
    registration_concurrency="KEYS", key_arguments=("key",), on_diff_non_key_args_raise=True
)
def registered_once_per_key(key: str, payload: int) -> int:
    return payload


@tasks_app.task
def ping(n: int) -> int:
    """Calls :func:`pong` with the same argument, which calls ``ping(n)`` again: a cycle."""
    return int(on_current_app(pong)(n).result)


@tasks_app.task
def pong(n: int) -> int:
    return int(on_current_app(ping)(n).result)


_called_once: set[str] = set()


@tasks_app.task
def call_self_once(key: str) -> str:
    """Calls itself with the same argument once: a cycle, but a finite one when cycle control
    is off (the inner call returns at once), so switching control off cannot run away."""
    if key in _called_once:
        return "inner"
    _called_once.add(key)
    return "outer:" + str(on_current_app(call_self_once)(key).result)


@tasks_app.task
def chain(depth: int) -> int:
    """Each level waits on the next: ``depth`` invocations waiting on each other."""
    if depth == 0:
        return 0
    return 1 + int(on_current_app(chain)(depth - 1).result)


@tasks_app.task
def filler(index: int) -> int:
    return index


@tasks_app.task
def parent_of_one(value: int) -> int:
    """Registers one child and waits for it; the child is queued behind any earlier work."""
    return int(on_current_app(filler)(value).result)


@tasks_app.task
def child_unless_negative(value: int) -> int:
    """Returns a negative value at once (a short task); waits on a child for any other."""
    if value < 0:
        return value
    return int(on_current_app(filler)(value).result)


_released: dict[str, threading.Event] = {}
_released_lock = threading.Lock()


def released(key: str) -> threading.Event:
    """The event that lets :func:`held` calls with ``key`` return (runners in this process)."""
    with _released_lock:
        return _released.setdefault(key, threading.Event())


@tasks_app.task
def held(key: str) -> str:
    """Returns once ``released(key)`` is set (at once if it already is; at the latest after
    30 s, so a failed test leaves no thread behind for long)."""
    released(key).wait(30)
    return key
