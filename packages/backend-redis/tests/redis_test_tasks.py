"""Tasks of the Redis backend's own tests (imported by module name, as runners import tasks)."""

from __future__ import annotations

from pynenc import Pynenc

app = Pynenc(app_id="pynenc-redis-test-tasks")


@app.task
def repeat(text: str, times: int) -> str:
    """A result far larger than its arguments."""
    return text * times


@app.task
def noop() -> None:
    """Nothing: what is left is pynenc's own cost."""


@app.task
def shout(text: str, times: int) -> None:
    """Fails with an exception far larger than its arguments."""
    raise ValueError(text * times)
