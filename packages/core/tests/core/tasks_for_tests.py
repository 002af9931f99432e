"""Tasks used by the core tests, bound to apps created per test via ``bind``."""

from __future__ import annotations

import threading
from typing import Any

from pynenc import Pynenc, Task

calls: dict[str, int] = {}
gate = threading.Event()


def add(x: int, y: int = 10) -> int:
    return x + y


def fail(message: str) -> int:
    raise KeyError(message)


def flaky(key: str, failures: int) -> str:
    calls[key] = calls.get(key, 0) + 1
    if calls[key] <= failures:
        raise ConnectionError(f"attempt {calls[key]}")
    return f"ok after {calls[key]}"


def blocked(key: str) -> str:
    calls[key] = calls.get(key, 0) + 1
    gate.wait(30)
    return key


def keyword_only(x: int, *, scale: int = 2) -> int:
    return x * scale


def variadic(*values: int, **named: int) -> int:
    return sum(values) + sum(named.values())


def quick_unless(key: str, block: bool) -> str:
    """Returns at once, unless ``block``: then it waits for the gate (a task known to be short
    that sometimes is not)."""
    if block:
        gate.wait(30)
    return key


async def double(x: int) -> int:
    return x * 2


def bind(app: Pynenc, func: Any, **options: Any) -> Task[Any, Any]:
    """Decorate one of this module's functions on ``app`` (the module path stays importable)."""
    return app.task(**options)(func) if options else app.task(func)


def sum_of_children(n: int) -> int:
    """Fans out ``n`` calls of ``add`` on the same app and waits for them (slot given back)."""
    from pynenc.identifiers.task_id import TaskId
    from pynenc.invocation.context import current_invocation

    invocation = current_invocation.get()
    assert invocation is not None
    child = invocation.app.get_task(TaskId(__name__, "add"))
    return sum(child.parallelize([(i, 0) for i in range(n)]).results)


def chain(depth: int) -> int:
    """Calls itself ``depth`` times, each level waiting on the next."""
    from pynenc.identifiers.task_id import TaskId
    from pynenc.invocation.context import current_invocation

    if depth == 0:
        return 0
    invocation = current_invocation.get()
    assert invocation is not None
    itself = invocation.app.get_task(TaskId(__name__, "chain"))
    return 1 + itself(depth - 1).result


def ping(n: int) -> int:
    """Calls ``pong(n)``, which calls ``ping(n)`` again: a cycle."""
    from pynenc.identifiers.task_id import TaskId
    from pynenc.invocation.context import current_invocation

    invocation = current_invocation.get()
    assert invocation is not None
    return int(invocation.app.get_task(TaskId(__name__, "pong"))(n).result)


def pong(n: int) -> int:
    from pynenc.identifiers.task_id import TaskId
    from pynenc.invocation.context import current_invocation

    invocation = current_invocation.get()
    assert invocation is not None
    return int(invocation.app.get_task(TaskId(__name__, "ping"))(n).result)


def call_self_once(key: str) -> str:
    """Calls itself with the same argument once: a finite cycle."""
    from pynenc.identifiers.task_id import TaskId
    from pynenc.invocation.context import current_invocation

    if calls.get(key):
        return "inner"
    calls[key] = 1
    invocation = current_invocation.get()
    assert invocation is not None
    itself = invocation.app.get_task(TaskId(__name__, "call_self_once"))
    return "outer:" + str(itself(key).result)
