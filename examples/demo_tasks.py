"""The demo's app and tasks (run by examples/demo.py).

Tasks live in their own importable module, not in the script, because a runner finds a task by
its module and name: the runner the demo starts (``pynenc --app demo_tasks:app runner start``)
imports this module and gets the very same tasks.
"""

from __future__ import annotations

import time

from pynenc import Pynenc
from pynenc.invocation import context

app = Pynenc(app_id="pynenc-demo")
"""No backend configured: the embedded default, SQLite, in
``$XDG_DATA_HOME/pynenc/pynenc-demo.db`` (``~/.local/share/pynenc/pynenc-demo.db``), a file
the demo script and the runner process it starts both open."""


@app.task
def square(x: int) -> int:
    """A unit of work that takes a little time, so the progress line has something to show."""
    time.sleep(0.02 * (x % 5))
    return x * x


@app.task
def sum_of_squares(n: int) -> int:
    """A task that fans out to other tasks and aggregates their results."""
    return sum(square.parallelize([(i,) for i in range(n)]).results)


@app.task(
    max_retries=3,
    retry_for=(ConnectionError,),
    retry_backoff_base_seconds=0.1,
    retry_jitter=False,
)
def fetch_quote(symbol: str) -> str:
    """Fails twice with a retriable error (a flaky network, say), then succeeds."""
    attempt = current_attempt()
    if attempt <= 2:
        raise ConnectionError(f"quote service unreachable (attempt {attempt})")
    return f"{symbol}: 42.00 (after {attempt} attempts)"


@app.task
def charge(amount: int) -> str:
    """Fails for a bad input: ValueError is not in retry_for, so it fails at once."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    return f"charged {amount}"


def current_attempt() -> int:
    """1 on the first run of the current invocation, 2 on its first retry, and so on.

    Read from the orchestrator, so it holds wherever the retry runs (another thread or process).
    """
    invocation = context.current_invocation.get()
    return 1 if invocation is None else invocation.num_retries + 1
