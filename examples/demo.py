"""pynenc demo: submit a fan-out of tasks, watch them run, print the results and the failure.

Run it with ``./dev demo`` (or ``python examples/demo.py``). The app and its tasks are in
``demo_tasks.py``, next to this file, which is put on ``sys.path`` so runners can import them.

How it runs: :func:`background_runner` starts a ThreadRunner in a background thread of this
process and stops it when the work is done. It has to be in-process because the demo app uses
the in-memory components, which live in one process only. With components shared between
processes (SQLite, Redis), :func:`background_runner` can start
``pynenc --app demo_tasks:app runner start`` as a subprocess instead (working directory
``examples/``) and stop it with SIGTERM; nothing else in this script changes, because the
script only submits calls and reads statuses and results through the app.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

EXAMPLES_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES_DIR))

from demo_tasks import app, charge, fetch_quote, square, sum_of_squares  # noqa: E402

from pynenc import Pynenc  # noqa: E402
from pynenc.identifiers.invocation_id import InvocationId  # noqa: E402
from pynenc.invocation.base_invocation import BaseInvocation  # noqa: E402
from pynenc.invocation.status import InvocationStatus  # noqa: E402
from pynenc.runner.thread_runner import ThreadRunner  # noqa: E402

TIMEOUT_SECONDS = 60.0
"""Give up (exit 1) if the work is not finished by then; it normally takes about a second."""

PROGRESS_TICK_SECONDS = 0.2


@contextmanager
def background_runner(app: Pynenc) -> Iterator[str]:
    """Run a ThreadRunner in a background thread for the duration of the block.

    Yields a description of the runner for the header.
    """
    runner = ThreadRunner(app)
    thread = threading.Thread(target=runner.run, name="demo-runner", daemon=True)
    thread.start()
    try:
        yield f"{type(runner).__name__} in a background thread of this process"
    finally:
        runner.stop_runner_loop()
        if not runner.wait_until_stopped(timeout=15):
            print("warning: the runner did not stop within 15s", file=sys.stderr)


class ProgressLine:
    """One status line: redrawn in place on a terminal, printed when it changes otherwise."""

    def __init__(self, stream: TextIO = sys.stdout, min_interval: float = 0.25) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._min_interval = min_interval
        self._last_text = ""
        self._last_print = -float("inf")

    def show(self, text: str, *, force: bool = False) -> None:
        if text == self._last_text:
            return
        now = time.monotonic()
        if self._interactive:
            self._stream.write(f"\r\033[K{text}")
        elif force or now - self._last_print >= self._min_interval:
            self._stream.write(f"{text}\n")
        else:
            return
        self._stream.flush()
        self._last_text, self._last_print = text, now

    def close(self) -> None:
        if self._interactive and self._last_text:
            self._stream.write("\n")
            self._stream.flush()


def progress_text(app: Pynenc) -> str:
    """Done/total over every invocation of the app, from the orchestrator's status counts.

    The total grows while it runs: ``sum_of_squares`` registers its children when it starts.
    """
    counts = app.orchestrator.count_invocations()
    total = sum(counts.values())
    done = sum(n for status, n in counts.items() if status.is_final())
    running = counts.get(InvocationStatus.RUNNING, 0)
    retrying = counts.get(InvocationStatus.RETRY, 0)
    failed = counts.get(InvocationStatus.FAILED, 0)
    return (
        f"progress: {done}/{total} done "
        f"({running} running, {retrying} waiting to retry, {failed} failed)"
    )


def wait_with_progress(app: Pynenc, invocations: Sequence[BaseInvocation[Any, Any]]) -> bool:
    """Block until every invocation is final, showing progress; False on timeout."""
    line = ProgressLine()
    pending: set[InvocationId] = {inv.invocation_id for inv in invocations}
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        while pending:
            line.show(progress_text(app))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            finals = app.orchestrator.wait_for_final(
                sorted(pending), timeout=min(PROGRESS_TICK_SECONDS, remaining)
            )
            pending.difference_update(finals)
        line.show(progress_text(app), force=True)
    finally:
        line.close()
    return True


def describe_outcome(invocation: BaseInvocation[Any, Any]) -> str:
    try:
        return repr(invocation.result)
    except Exception as exc:  # noqa: BLE001 - showing the task's failure is the point
        return f"raised {type(exc).__name__}: {exc}"


def main() -> int:
    components = ", ".join(
        str(getattr(app.conf, name)) for name in ("orchestrator_cls", "broker_cls")
    )
    print(f"pynenc demo: app {app.app_id!r} on {components}, {app.conf.state_backend_cls}")
    app.purge()  # a persistent backend still holds the previous run, which would skew the counts
    with background_runner(app) as runner_description:
        print(f"runner: {runner_description}")
        squares = square.parallelize([(i,) for i in range(20)])
        total = sum_of_squares(10)
        quote = fetch_quote("PYN")
        payment = charge(-5)
        print(
            f"submitted: square x{len(squares)}, sum_of_squares(10) (fans out to 10 squares), "
            "fetch_quote (fails twice, then succeeds), charge(-5) (fails)"
        )
        if not wait_with_progress(app, [*squares, total, quote, payment]):
            print(f"not finished after {TIMEOUT_SECONDS:.0f}s; is the runner working?")
            return 1

    print("results:")
    print(f"  square(0..19)       -> {squares.results}")
    print(f"  sum_of_squares(10)  -> {describe_outcome(total)}")
    print(f"  fetch_quote('PYN')  -> {describe_outcome(quote)}  (retries: {quote.num_retries})")
    print("failure (expected):")
    print(f"  charge(-5)          -> {describe_outcome(payment)}  (status: {payment.status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
