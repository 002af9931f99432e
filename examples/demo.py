"""pynenc demo: start a runner, submit a fan-out of tasks, watch them run, print the outcome.

Run it with ``./dev demo`` (or ``python examples/demo.py``). The app and its tasks are in
``demo_tasks.py``, next to this file. The app has no backend configuration, so it uses the
embedded default, SQLite, in one database file that this script and the runner both open.

The runner is started the way you would start one yourself, as a separate process::

    cd examples && pynenc --app demo_tasks:app runner start --runner-class MultiThreadRunner \\
        --processes 2

This script waits until the runner reports itself active, submits the calls, shows progress
from the orchestrator's status counts, prints the results, and stops the runner with SIGTERM,
whatever happens (Ctrl+C included). The runner's own log goes to a file, shown if it fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

EXAMPLES_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES_DIR))

from demo_tasks import app, charge, fetch_quote, square, sum_of_squares  # noqa: E402

from pynenc import Pynenc  # noqa: E402
from pynenc.identifiers.invocation_id import InvocationId  # noqa: E402
from pynenc.invocation.base_invocation import BaseInvocation  # noqa: E402
from pynenc.invocation.status import InvocationStatus  # noqa: E402

RUNNER_CLASS = "MultiThreadRunner"
RUNNER_PROCESSES = 2
"""Two worker processes, each running invocations in threads."""

READY_TIMEOUT_SECONDS = 30.0
WORK_TIMEOUT_SECONDS = 60.0
"""Give up (exit 1) if the work is not finished by then; it normally takes about a second."""
STOP_TIMEOUT_SECONDS = 30.0
"""How long the runner gets to stop after SIGTERM before it and its children are killed."""
PROGRESS_TICK_SECONDS = 0.2
LOG_TAIL_LINES = 20


class DemoError(Exception):
    """The demo cannot go on; the message says why."""


# ---------------------------------------------------------------------------------- the runner


class RunnerProcess:
    """``pynenc --app demo_tasks:app runner start`` as a child process of this script."""

    def __init__(self, app: Pynenc, log_path: Path) -> None:
        self.app = app
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("pynenc")
        pynenc_cli = [str(script)] if script.exists() else [sys.executable, "-m", "pynenc.cli"]
        return [
            *pynenc_cli,
            "--app",
            "demo_tasks:app",
            "runner",
            "start",
            "--runner-class",
            RUNNER_CLASS,
            "--processes",
            str(RUNNER_PROCESSES),
        ]

    def start(self) -> None:
        """Start the runner in a session of its own, so a Ctrl+C in the terminal reaches only
        this script, which then stops the runner itself, and so its whole process tree can be
        killed as a last resort."""
        pythonpath = os.pathsep.join(
            filter(None, [str(EXAMPLES_DIR), os.environ.get("PYTHONPATH")])
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=EXAMPLES_DIR,
                env={**os.environ, "PYTHONPATH": pythonpath},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_ready(self, known_runner_ids: set[str]) -> None:
        """Poll the orchestrator until a runner that was not there before is active."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            active = {r.runner_id for r in self.app.orchestrator.get_active_runners()}
            if active - known_runner_ids:
                return
            if self.process.poll() is not None:
                raise DemoError(f"the runner exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                raise DemoError(f"the runner was not active after {READY_TIMEOUT_SECONDS:.0f}s")
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, then wait: in-flight work finishes or goes back to the queue. A runner
        that does not exit in time is killed with its worker processes."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(
                    f"the runner did not stop within {STOP_TIMEOUT_SECONDS:.0f}s: killing it",
                    file=sys.stderr,
                )
                os.killpg(process.pid, signal.SIGKILL)
        return process.wait()

    def log_tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"  | {line}" for line in lines[-LOG_TAIL_LINES:])


@contextmanager
def background_runner(app: Pynenc) -> Iterator[RunnerProcess]:
    """A runner process for the duration of the block, stopped on the way out, always."""
    with tempfile.TemporaryDirectory(prefix="pynenc-demo-") as log_dir:
        runner = RunnerProcess(app, Path(log_dir) / "runner.log")
        known = {r.runner_id for r in app.orchestrator.get_active_runners()}
        show_log = False
        try:
            runner.start()
            runner.wait_until_ready(known)
            yield runner
        except DemoError:
            show_log = True
            raise
        finally:
            code = runner.stop()
            if show_log or code != 0:
                print(f"runner exit code {code}; its last log lines:", file=sys.stderr)
                print(runner.log_tail(), file=sys.stderr)
            else:
                print(f"runner: stopped by SIGTERM, exit code {code}")


# ---------------------------------------------------------------------------------- progress


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


def wait_with_progress(
    app: Pynenc, invocations: Sequence[BaseInvocation[Any, Any]], runner: RunnerProcess
) -> None:
    """Block until every invocation is final, showing progress."""
    line = ProgressLine()
    pending: set[InvocationId] = {inv.invocation_id for inv in invocations}
    deadline = time.monotonic() + WORK_TIMEOUT_SECONDS
    try:
        while pending:
            line.show(progress_text(app))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DemoError(f"the work was not finished after {WORK_TIMEOUT_SECONDS:.0f}s")
            if runner.process is not None and runner.process.poll() is not None:
                raise DemoError(f"the runner exited with code {runner.process.returncode}")
            finals = app.orchestrator.wait_for_final(
                sorted(pending), timeout=min(PROGRESS_TICK_SECONDS, remaining)
            )
            pending.difference_update(finals)
        line.show(progress_text(app), force=True)
    finally:
        line.close()


# ---------------------------------------------------------------------------------- output


def describe_outcome(invocation: BaseInvocation[Any, Any]) -> str:
    try:
        return repr(invocation.result)
    except Exception as exc:  # noqa: BLE001 - showing the task's failure is the point
        return f"raised {type(exc).__name__}: {exc}"


def where_they_ran(app: Pynenc, invocations: Sequence[BaseInvocation[Any, Any]]) -> str:
    """Which worker process recorded each success, from the invocations' histories."""
    pids: Counter[str] = Counter()
    for invocation in invocations:
        for entry in app.state_backend.get_history(invocation.invocation_id):
            if entry.status_record.status == InvocationStatus.SUCCESS:
                ctx = app.state_backend.get_runner_context(entry.runner_context_id)
                pids[f"pid {ctx.pid}" if ctx else entry.runner_context_id[:7]] += 1
    return ", ".join(f"{where}: {count}" for where, count in sorted(pids.items()))


def inspect_command(invocation: BaseInvocation[Any, Any]) -> str:
    """The command that prints an invocation's history and traceback, from this directory."""
    script = Path(sys.executable).with_name("pynenc")
    pynenc_cli = os.path.relpath(script) if script.exists() else "pynenc"
    tasks_file = os.path.relpath(EXAMPLES_DIR / "demo_tasks.py")
    return f"{pynenc_cli} --app {tasks_file} invocation show {invocation.invocation_id[:7]}"


def sqlite_database(app: Pynenc) -> Path | None:
    """The database file, when the app is on the SQLite components (the default)."""
    from pynenc.orchestrator.sqlite_orchestrator import SQLiteOrchestrator

    orchestrator = app.orchestrator
    return orchestrator.db.path if isinstance(orchestrator, SQLiteOrchestrator) else None


def database_description(app: Pynenc) -> str:
    path = sqlite_database(app)
    if path is not None:
        return f"SQLite database {path}"
    return f"{app.conf.orchestrator_cls}, {app.conf.broker_cls}, {app.conf.state_backend_cls}"


def purge_demo_data(app: Pynenc) -> None:
    """Start from nothing: the file keeps the previous run's invocations, which would skew the
    counts. The demo's own default file, if an older pynenc wrote it, is simply recreated."""
    from pynenc.exceptions import BackendSchemaError
    from pynenc.util.sqlite import default_db_path

    try:
        app.purge()
    except BackendSchemaError:
        path = sqlite_database(app)
        if path is None or path != default_db_path(app.app_id):
            raise
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        print("(recreated the demo database, left by a pynenc of another schema version)")
        app.purge()


# ---------------------------------------------------------------------------------- main


def run_demo() -> None:
    if not app.spans_processes:
        raise DemoError(
            "the configured components live in one process (Mem*), but the demo runs its "
            "runner in another process; unset the PYNENC__*_CLS overrides"
        )
    print(f"pynenc demo: app {app.app_id!r} on the {database_description(app)}")
    purge_demo_data(app)
    with background_runner(app) as runner:
        print(f"runner: {RUNNER_CLASS}, {RUNNER_PROCESSES} worker processes (pid {runner.pid})")
        squares = square.parallelize([(i,) for i in range(20)])
        total = sum_of_squares(10)
        quote = fetch_quote("PYN")
        payment = charge(-5)
        print(
            f"submitted: square x{len(squares)}, sum_of_squares(10) (fans out to 10 squares), "
            "fetch_quote (fails twice, then succeeds), charge(-5) (fails)"
        )
        submitted = [*squares, total, quote, payment]
        wait_with_progress(app, submitted, runner)

    print("results:")
    print(f"  square(0..19)       -> {squares.results}")
    print(f"  sum_of_squares(10)  -> {describe_outcome(total)}")
    print(f"  fetch_quote('PYN')  -> {describe_outcome(quote)}  (retries: {quote.num_retries})")
    print("failure (expected):")
    print(f"  charge(-5)          -> {describe_outcome(payment)}  (status: {payment.status})")
    print(f"successes by worker process: {where_they_ran(app, submitted)}")
    print(f"inspect one: {inspect_command(payment)}")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the runner is stopped on the way out
    try:
        run_demo()
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
