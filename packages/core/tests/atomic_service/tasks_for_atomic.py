"""A task for the recovery tests, importable by module path."""

from __future__ import annotations

from typing import Any

from pynenc import Pynenc, Task


def add(x: int, y: int) -> int:
    return x + y


def bind_add(app: Pynenc) -> Task[Any, Any]:
    return app.task(add)
