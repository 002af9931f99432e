"""Tasks used by the logging tests, bound to apps created per test via ``bind``."""

from __future__ import annotations

from typing import Any

from pynenc import Pynenc, Task
from pynenc.invocation import context

attempts: dict[str, int] = {}


def add(x: int, y: int) -> int:
    return x + y


def log_from_task(message: str) -> str:
    """Logs through the app of the invocation it runs in, as user code would."""
    invocation = context.current_invocation.get()
    assert invocation is not None, "must run inside an invocation"
    invocation.app.logger.warning("from task: %s", message)
    return message


def use_secret(token: str) -> int:
    return len(token)


def fail_once(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise ConnectionError("first attempt fails")
    return key


def bind(app: Pynenc, func: Any, **options: Any) -> Task[Any, Any]:
    """Decorate one of this module's functions on ``app``."""
    return app.task(**options)(func) if options else app.task(func)
