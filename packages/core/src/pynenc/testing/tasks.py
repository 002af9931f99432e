"""Tasks and sample values the conformance suite uses.

The tasks are module-level ``Task`` objects, so a runner in any process finds them by module and
name. They are declared on :data:`tasks_app`, but every test runs them on its own app:
``app.get_task(task.task_id)`` rebinds a task to ``app`` (see :meth:`pynenc.Pynenc.get_task`),
and a task that calls another uses :func:`on_current_app` to stay on the app running it.
"""

from __future__ import annotations

import enum
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pynenc import Pynenc, Task
from pynenc.invocation import context

tasks_app = Pynenc(app_id="pynenc-conformance-tasks")
"""Declares the tasks; never runs them (each test binds them to its own app)."""


class ConformanceTaskError(Exception):
    """Raised by :func:`fail_with`; its type must survive the round trip to the caller."""


class FlakyError(Exception):
    """Raised by the retrying tasks while they still have to fail."""


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: str = ""


_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()


def count_attempt(key: str) -> int:
    """How many times a task ran with ``key``, this run included (per process)."""
    with _attempts_lock:
        _attempts[key] = _attempts.get(key, 0) + 1
        return _attempts[key]


def attempts(key: str) -> int:
    with _attempts_lock:
        return _attempts.get(key, 0)


def on_current_app(task: Task[Any, Any]) -> Task[Any, Any]:
    """``task`` bound to the app of the invocation running now (or its own app outside one)."""
    invocation = context.current_invocation.get()
    app = invocation.app if invocation is not None else task.app
    return app.get_task(task.task_id)


@tasks_app.task
def add(x: int, y: int) -> int:
    return x + y


@tasks_app.task
def echo(value: Any) -> Any:
    return value


@tasks_app.task
def fail_with(message: str) -> None:
    raise ConformanceTaskError(message)


@tasks_app.task(
    max_retries=3,
    retry_for=(FlakyError,),
    retry_backoff_base_seconds=0.01,
    retry_backoff_factor=2.0,
    retry_jitter=False,
)
def flaky(key: str, failures: int) -> int:
    """Fails ``failures`` times, then returns how many attempts it took."""
    attempt = count_attempt(key)
    if attempt <= failures:
        raise FlakyError(f"attempt {attempt} of '{key}' fails on purpose")
    return attempt


@tasks_app.task(
    max_retries=2,
    retry_for=(FlakyError,),
    retry_backoff_base_seconds=0.01,
    retry_jitter=False,
)
def always_flaky(key: str) -> None:
    attempt = count_attempt(key)
    raise FlakyError(f"attempt {attempt} of '{key}' fails on purpose")


@tasks_app.task(
    max_retries=1,
    retry_for=(FlakyError,),
    retry_backoff_base_seconds=60.0,
    retry_jitter=False,
)
def retry_after_a_minute(key: str) -> int:
    """Fails once; its retry is due one minute (of the app's clock) later."""
    attempt = count_attempt(key)
    if attempt == 1:
        raise FlakyError(f"first attempt of '{key}' fails on purpose")
    return attempt


@tasks_app.task
async def async_add(x: int, y: int) -> int:
    return x + y


@tasks_app.task
def add_through_child(x: int, y: int) -> int:
    """Calls :func:`add` and waits for it, from inside a running invocation."""
    return int(on_current_app(add)(x, y).result)


@tasks_app.task
def sum_of_children(count: int) -> int:
    """Fans out ``count`` calls of :func:`add` and waits for all of them."""
    children = on_current_app(add).parallelize([(i, i) for i in range(count)])
    return sum(children.results)


SERIALIZABLE_VALUES: dict[str, Any] = {
    "none": None,
    "bool": True,
    "int": -42,
    "big_int": 2**80 + 1,
    "float": 3.25,
    "str": "pynenc ✓ 日本",
    "empty_str": "",
    "list": [1, "two", 3.0, None],
    "nested": {"a": [1, {"b": (2, 3)}], "c": {"d": None}},
    "tuple": (1, "a", (2, 3)),
    "set": {1, 2, 3},
    "frozenset": frozenset({"x", "y"}),
    "dict_with_int_keys": {1: "one", 2: "two"},
    "bytes": b"\x00\xffpynenc",
    "enum": Color.GREEN,
    "dataclass": Point(1, 2, "p"),
    "list_of_dataclasses": [Point(0, 0), Point(3, 4, "q")],
    "datetime": datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "naive_datetime": datetime(2030, 1, 2, 3, 4, 5),
    "date": date(2030, 1, 2),
    "timedelta": timedelta(days=1, seconds=2, microseconds=3),
    "decimal": Decimal("12.3400"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "complex": complex(1.5, -2),
}
"""Values every serializer must round-trip to an equal value of the same type (name -> value)."""
