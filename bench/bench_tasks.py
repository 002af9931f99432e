"""The tasks the bench measures, bound to an app built from the bench config.

The client and every worker process import this module, so they share task ids
(``bench_tasks.noop`` ...) and, through :data:`bench_config.ENV_VAR`, the same configuration.
"""

from __future__ import annotations

from bench_config import BenchConfig

from pynenc import Pynenc

_config = BenchConfig.from_env()

app = Pynenc(config_values=_config.values, config_filepath=_config.filepath)


@app.task
def noop() -> None:
    """Does nothing: what remains is the cost of the framework."""


@app.task
def echo(value: int) -> int:
    """Returns its argument, so a parent has something to aggregate."""
    return value


@app.task
def fan_out(children: int, timeout: float) -> int:
    """Fans out ``children`` calls of :func:`echo` with ``parallelize`` and sums their results.

    ``timeout`` bounds the wait, so a failed bench run does not leave a worker thread blocked.
    """
    group = echo.parallelize((i,) for i in range(children))
    return sum(group.wait(timeout=timeout))
