"""Tasks for the end-to-end tests. The app takes its configuration from the environment
(``PYNENC__APP_ID``, ``PYNENC__SQLITE_DB_PATH``...), so runner subprocesses and the test process
build the same app."""

from __future__ import annotations

import time

from pynenc import Pynenc

app = Pynenc()


@app.task
def square(x: int) -> int:
    return x * x


@app.task
def slow_square(x: int, seconds: float) -> int:
    time.sleep(seconds)  # the task's own work, not a wait on something
    return x * x


@app.task
def sum_of_squares(n: int) -> int:
    return sum(square.parallelize([(i,) for i in range(n)]).results)
