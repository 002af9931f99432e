"""Runners that keep a pool of long-lived child processes, each running a ThreadRunner.

The parent does not execute tasks: it starts the children, reports heartbeats for the live ones,
replaces a child that dies (handing the dead child's invocations back to the queue first), and on
SIGTERM/SIGINT stops every child cleanly. Each child stops like a ThreadRunner: its in-flight work
gets the grace period, then is KILLED and rerouted, so nothing is lost and nothing stays RUNNING.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_runner import ConfigProcessPoolRunner
from pynenc.invocation.status import ACTIVE_STATUSES
from pynenc.orchestrator.base_orchestrator import InvocationQuery
from pynenc.runner.base_runner import BaseRunner
from pynenc.runner.runner_context import RunnerContext

if TYPE_CHECKING:
    from pynenc.app import Pynenc

_MONITOR_INTERVAL_SECONDS = 0.5
_PARENT_CHECK_SECONDS = 1.0


@dataclass
class _Child:
    context: RunnerContext
    process: BaseProcess


def run_child_runner(
    app: Pynenc, context: RunnerContext, config_overrides: dict[str, Any], parent_pid: int
) -> None:
    """Entry point of a child process: a ThreadRunner with the context its parent assigned.

    The child stops (handing its work back) when its parent disappears, even killed with
    SIGKILL: an orphan would keep heartbeating and hold work nobody supervises."""
    from pynenc.runner.thread_runner import ThreadRunner

    context = replace(context, pid=os.getpid())
    runner = ThreadRunner(app, runner_context=context, config_overrides=config_overrides)

    def watch_parent() -> None:
        while not runner._stop_event.wait(_PARENT_CHECK_SECONDS):
            if os.getppid() != parent_pid:
                runner.logger.warning("parent process %s is gone: stopping", parent_pid)
                runner.stop_runner_loop()
                return

    threading.Thread(target=watch_parent, name="pynenc-parent-watch", daemon=True).start()
    runner.run()


class ProcessPoolRunner(BaseRunner):
    """Base of MultiThreadRunner and PersistentProcessRunner."""

    config_cls: ClassVar[type[ConfigProcessPoolRunner]] = ConfigProcessPoolRunner
    conf: ConfigProcessPoolRunner
    child_runner_cls: ClassVar[str] = "ThreadRunner"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: list[_Child] = []
        self._mp = multiprocessing.get_context("spawn")

    @staticmethod
    def mem_compatible() -> bool:
        return False

    @property
    def num_processes(self) -> int:
        return self.conf.effective_num_processes()

    @property
    def threads_per_process(self) -> int:
        return 1

    @property
    def max_parallel_slots(self) -> int:
        return self.num_processes * self.threads_per_process

    def get_active_child_runner_ids(self) -> list[str]:
        return [c.context.runner_id for c in self._children if c.process.is_alive()]

    def _child_overrides(self) -> dict[str, Any]:
        return {
            "max_threads": self.threads_per_process,
            "graceful_shutdown_timeout_seconds": self.conf.graceful_shutdown_timeout_seconds,
            "runner_heartbeat_interval_seconds": self.conf.runner_heartbeat_interval_seconds,
        }

    # ------------------------------------------------------------------ life cycle

    def _on_start(self) -> None:
        self._children = [self._start_child() for _ in range(self.num_processes)]

    def _start_child(self) -> _Child:
        context = self.runner_context.new_child(
            self.child_runner_cls, f"{self.runner_id}-child-{os.urandom(4).hex()}"
        )
        process = self._mp.Process(
            target=run_child_runner,
            args=(self.app, context, self._child_overrides(), os.getpid()),
            name=f"pynenc-{context.runner_id}",
            daemon=False,
        )
        process.start()
        context = replace(context, pid=process.pid or 0)
        self._register_new_child_runner_context(context)
        return _Child(context, process)

    def runner_loop_iteration(self) -> None:
        """Watch the children: replace the ones that died, after rerouting their work."""
        for index, child in enumerate(self._children):
            if not child.process.is_alive() and self.running:
                self.logger.warning(
                    "child runner %s (pid %s) exited with code %s; rerouting its work and "
                    "starting a replacement",
                    child.context.runner_id,
                    child.process.pid,
                    child.process.exitcode,
                )
                self._reroute_work_of(child.context)
                self._forget_child(child.context)
                self._children[index] = self._start_child()
        self._stop_event.wait(_MONITOR_INTERVAL_SECONDS)

    def _on_stop_runner_loop(self) -> None:
        """SIGTERM every child, wait for them (grace period plus margin), kill stragglers,
        then hand back whatever a child still owned."""
        for child in self._children:
            if child.process.is_alive() and child.process.pid:
                try:
                    os.kill(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        timeout = self.conf.graceful_shutdown_timeout_seconds + self.conf.child_stop_timeout_seconds
        for child in self._children:
            child.process.join(timeout)
            if child.process.is_alive():
                self.logger.warning(
                    "child %s did not stop in time: killing it", child.context.runner_id
                )
                child.process.kill()
                child.process.join(5)
            self._reroute_work_of(child.context)
        self._children = []

    def _reroute_work_of(self, context: RunnerContext) -> None:
        """Hand back every invocation a (dead or stopped) child still owns."""
        orchestrator = self.app.orchestrator
        query = InvocationQuery(
            statuses=ACTIVE_STATUSES, owner_ids=frozenset({context.runner_id}), limit=500
        )
        for invocation_id in list(orchestrator.iter_invocations(query)):
            try:
                self._kill_and_reroute(invocation_id, context)
            except Exception:
                self.logger.exception("could not reroute invocation %s", invocation_id)

    def _shutdown_details(self) -> dict[str, Any]:
        return {
            "children": ", ".join(
                f"{c.context.runner_id}(pid={c.process.pid}, alive={c.process.is_alive()})"
                for c in self._children
            )
            or "none"
        }
