"""Where the runner under test lives, and how much memory its processes use.

Two hosts: :class:`InProcessHost` runs the runner in a background thread of the client (the only
option for the memory stack, whose components exist in one process); :class:`WorkerProcessHost`
starts ``bench/worker.py`` in its own process (shared backends). Every wait has a deadline, and
every worker process started is stopped by :func:`stop_all` or, as a last resort, at exit.
"""

from __future__ import annotations

import atexit
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pynenc import Pynenc
    from pynenc.runner.base_runner import BaseRunner

READY_PREFIX = "READY"
"""First word of the line a worker prints on stdout once its runner is registered and looping."""

_POLL_SECONDS = 0.01


class HostError(RuntimeError):
    """A runner could not be started, or stopped working."""


# ---------------------------------------------------------------------------------- memory


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Resident memory of one process, in kB: now (VmRSS) and at its peak (VmHWM)."""

    pid: int
    rss_kb: int | None
    peak_kb: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "rss_kb": self.rss_kb, "peak_kb": self.peak_kb}


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of process ``pid`` (every thread) from ``/proc/<pid>/stat``;
    None where there is no ``/proc`` or the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def read_memory(pid: int | None = None) -> MemorySample:
    """VmRSS and VmHWM from ``/proc/<pid>/status``; for this process on a system without
    ``/proc``, the peak from ``resource.getrusage`` (no current value)."""
    own = pid is None or pid == os.getpid()
    real_pid = os.getpid() if pid is None else pid
    try:
        text = Path(f"/proc/{'self' if own else real_pid}/status").read_text()
    except OSError:
        if own:
            return MemorySample(real_pid, None, _own_peak_kb())
        return MemorySample(real_pid, None, None)
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(rest.split()[0])
    return MemorySample(real_pid, fields.get("VmRSS"), fields.get("VmHWM"))


def _own_peak_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def descendants(pid: int) -> list[int]:
    """Live descendant processes of ``pid`` (children of process runners), from ``/proc``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return sorted(found)


# ---------------------------------------------------------------------------------- hosts


class RunnerHost(Protocol):
    """A runner the bench drives: started before the workloads, stopped after them."""

    label: str

    def start(self) -> None:
        """Begin starting the runner without waiting for it."""

    def wait_ready(self, deadline: float) -> None:
        """Block until the runner takes work; :class:`HostError` at ``deadline`` or on death."""

    @property
    def runner_ids(self) -> list[str]: ...

    def problem(self) -> str | None:
        """Why this runner can no longer take work (it died), or None while it is fine."""

    def memory(self) -> list[tuple[str, MemorySample]]:
        """Memory of the processes this runner occupies, each with a label."""

    def cpu_seconds(self) -> float | None:
        """CPU time its own processes used so far (None: it runs in the client process, or
        this system does not tell)."""

    def stop(self, deadline: float) -> str | None:
        """Stop the runner; returns what went wrong, if anything."""


class InProcessHost:
    """The runner in a daemon thread of the client process (memory stack, or ``--in-process``)."""

    def __init__(self, app: Pynenc, runner_cls: type[BaseRunner]) -> None:
        self.label = f"{runner_cls.__name__} in-process (client pid {os.getpid()})"
        self._app = app
        self._runner = runner_cls(app)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-runner", daemon=True)

    def _run(self) -> None:
        try:
            self._runner.run()
        except BaseException as exc:
            self._error = exc

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, deadline: float) -> None:
        runner_id = self._runner.runner_id
        while True:
            problem = self.problem()
            if problem:
                raise HostError(problem)
            if self._runner.running and any(
                r.runner_id == runner_id for r in self._app.orchestrator.get_active_runners()
            ):
                return
            if time.monotonic() >= deadline:
                raise HostError(f"{self.label} did not register as an active runner in time")
            self._thread.join(_POLL_SECONDS)

    @property
    def runner_ids(self) -> list[str]:
        return [self._runner.runner_id]

    def problem(self) -> str | None:
        if self._error is not None:
            return f"{self.label} crashed: {self._error!r}"
        if self._thread.ident is not None and not self._thread.is_alive():
            return f"{self.label} stopped unexpectedly"
        return None

    def memory(self) -> list[tuple[str, MemorySample]]:
        """Nothing of its own: the client's figures include this runner."""
        return []

    def cpu_seconds(self) -> float | None:
        """None: the client's CPU time includes this runner."""
        return None

    def stop(self, deadline: float) -> str | None:
        if self._thread.ident is None:
            return None
        self._runner.stop_runner_loop()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            return f"{self.label} did not stop before the deadline"
        return None


class WorkerProcessHost:
    """A ``bench/worker.py`` process: ready when it prints its READY line, stopped by SIGTERM."""

    def __init__(self, index: int, command: list[str], env: dict[str, str], log_path: Path):
        self.index = index
        self.label = f"worker {index}"
        self.log_path = log_path
        self._command = command
        self._env = env
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._runner_id: str | None = None
        self._terminated = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        with self.log_path.open("w") as log:
            self._process = subprocess.Popen(
                self._command,
                env=self._env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        _started.append(self)
        self.label = f"worker {self.index} (pid {self._process.pid})"
        threading.Thread(target=self._read_stdout, name=f"bench-{self.label}", daemon=True).start()

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_ready(self, deadline: float) -> None:
        while self._runner_id is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostError(f"{self.label} did not report ready in time; see {self.log_path}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise HostError(f"{self.label} exited before it was ready; {self._log_tail()}")
            words = line.split()
            if len(words) == 3 and words[0] == READY_PREFIX:
                self._runner_id = words[2]

    @property
    def runner_ids(self) -> list[str]:
        return [self._runner_id] if self._runner_id else []

    def problem(self) -> str | None:
        if self._process is not None and self._process.poll() is not None:
            return f"{self.label} exited with code {self._process.returncode}; {self._log_tail()}"
        return None

    def memory(self) -> list[tuple[str, MemorySample]]:
        if self._process is None or self._process.poll() is not None:
            return []
        pid = self._process.pid
        samples = [(self.label, read_memory(pid))]
        for child in descendants(pid):
            samples.append((f"  child of worker {self.index} (pid {child})", read_memory(child)))
        return samples

    def cpu_seconds(self) -> float | None:
        """User and system time of the worker and its live children, from ``/proc``."""
        if self._process is None or self._process.poll() is not None:
            return None
        pid = self._process.pid
        times = [read_cpu_seconds(p) for p in (pid, *descendants(pid))]
        if any(t is None for t in times):
            return None
        return sum(t for t in times if t is not None)

    def terminate(self) -> None:
        """Send SIGTERM once: a second one would only repeat the runner's shutdown."""
        if self._terminated or self._process is None or self._process.poll() is not None:
            return
        self._terminated = True
        self._process.send_signal(signal.SIGTERM)

    def stop(self, deadline: float) -> str | None:
        process = self._process
        if process is None:
            return None
        self.terminate()
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return f"{self.label} ignored SIGTERM until the deadline and was killed"
        finally:
            if process.stdin is not None:
                process.stdin.close()
        if process.returncode not in (0, -signal.SIGTERM):
            return f"{self.label} exited with code {process.returncode}; see {self.log_path}"
        return None

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (its session, which the children of
        process-based runners share): killing the worker alone would leave them running."""
        process = self._process
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text().splitlines()[-lines:]
        except OSError:
            return f"no log at {self.log_path}"
        return f"last log lines ({self.log_path}):\n    " + "\n    ".join(tail)


def start_all(hosts: list[RunnerHost], timeout: float) -> None:
    """Start every host at once, then wait until each is ready (one shared deadline)."""
    for host in hosts:
        host.start()
    deadline = time.monotonic() + timeout
    for host in hosts:
        host.wait_ready(deadline)


def stop_all(hosts: list[RunnerHost], timeout: float) -> list[str]:
    """Ask every host to stop, then wait for each (one shared deadline); returns problems."""
    for host in hosts:
        if isinstance(host, WorkerProcessHost):
            host.terminate()
    deadline = time.monotonic() + timeout
    return [problem for host in hosts if (problem := host.stop(deadline))]


_started: list[WorkerProcessHost] = []


@atexit.register
def _kill_leftover_workers() -> None:
    """Last resort when the client exits without stopping its workers (an uncaught error)."""
    for host in _started:
        process = host._process
        if process is not None and process.poll() is None:
            host.kill()
