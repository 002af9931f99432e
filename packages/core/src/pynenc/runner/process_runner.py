"""ProcessRunner: a new process for every invocation.

Isolation is total (a task that leaks memory or crashes takes only its own process) at the cost
of a process start per invocation; processes are forked from a clean fork server that has the
app's module preloaded, so a start costs milliseconds.

The parent claims each invocation for a child context of its own, hands it to a process, and
keeps the count of running children under ``max_processes``. One process is always started
ahead, waiting for its invocation (a spare): an invocation that arrives goes to it at once, so
its start (several milliseconds) is not on the invocation's path, and the next spare starts
while it runs. Each process still runs exactly one invocation. A child whose task waits on other
invocations moves to PAUSED and gives its slot back; when the results are in it asks the parent
for a slot (resumes go before new work) and moves back to RUNNING. A child that dies leaves its
invocation to the parent, which kills and reroutes it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from dataclasses import dataclass, replace
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_runner import ConfigProcessRunner
from pynenc.exceptions import PynencError
from pynenc.invocation import context
from pynenc.invocation.status import ACTIVE_STATUSES, InvocationStatus, InvocationStatusRecord
from pynenc.runner.base_runner import BaseRunner, wait_chunk
from pynenc.runner.runner_context import RunnerContext
from pynenc.runner.thread_runner import execute_invocation

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.identifiers.invocation_id import InvocationId

MAIN_PATH_VARIABLE = "PYNENC_FORKSERVER_MAIN_PATH"
"""Tells :mod:`pynenc.runner.forkserver_preload` which main script to run in the fork server."""

PRELOAD_VARIABLE = "PYNENC_FORKSERVER_PRELOAD"
"""The modules (comma-separated) :mod:`pynenc.runner.forkserver_preload` imports."""

_RETRIEVE_SECONDS = 0.01
"""Longest single wait of the parent for new work: a backend that polls (SQLite) starts each
wait with its shortest interval, so new work is seen within a few milliseconds even after a
long idle spell (about 2% of a core while idle, against 1.5% with 50 ms; W2 22 ms against 36)."""

_PAUSED = "paused"
_RESUME = "resume"
_DONE = "done"


@dataclass
class _Child:
    context: RunnerContext
    invocation_id: InvocationId
    process: BaseProcess
    resume: MpEvent
    paused: bool = False
    wants_resume: bool = False
    finished: bool = False


@dataclass
class _Spare:
    """A process started ahead, waiting on ``assign`` for its invocation."""

    process: BaseProcess
    assign: Connection
    resume: MpEvent


class ProcessRunner(BaseRunner):
    """Runs each invocation in its own process, at most ``max_processes`` at once."""

    config_cls: ClassVar[type[ConfigProcessRunner]] = ConfigProcessRunner
    conf: ConfigProcessRunner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[str, _Child] = {}
        methods = multiprocessing.get_all_start_methods()
        self._mp: Any = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._messages: MpQueue[tuple[str, str]] | None = None
        self._spare: _Spare | None = None

    @staticmethod
    def mem_compatible() -> bool:
        return False

    @property
    def max_parallel_slots(self) -> int:
        return self.conf.effective_max_processes()

    def get_active_child_runner_ids(self) -> list[str]:
        return [c.context.runner_id for c in self._children.values() if c.process.is_alive()]

    def _on_start(self) -> None:
        if hasattr(self._mp, "set_forkserver_preload"):
            os.environ[PRELOAD_VARIABLE] = ",".join(self._modules_children_use())
            main_path = spawn.get_preparation_data("pynenc").get("init_main_from_path")
            if main_path:
                # run once in the fork server, not again in every child (see the module)
                os.environ[MAIN_PATH_VARIABLE] = main_path
            self._mp.set_forkserver_preload(["pynenc.runner.forkserver_preload"])
            # start the fork server now (the first invocation does not wait for it), then take
            # the variables back: only the fork server reads them
            from multiprocessing import forkserver

            try:
                forkserver.ensure_running()
            finally:
                os.environ.pop(PRELOAD_VARIABLE, None)
                os.environ.pop(MAIN_PATH_VARIABLE, None)
        self._messages = self._mp.Queue()
        self._ready_spare()

    def _modules_children_use(self) -> list[str]:
        """The modules of the app, of its components and of the tasks known here: the fork
        server imports them once instead of every child importing them again."""
        app = self.app
        components = (
            app.orchestrator,
            app.broker,
            app.state_backend,
            app.trigger,
            app.client_data_store,
            app.serializer,
        )
        modules = [type(component).__module__ for component in components]
        modules.extend(task.task_id.module for task in app.tasks.values())
        modules.append(app.module or "__main__")
        return [m for m in dict.fromkeys(modules) if m not in ("__main__", "__mp_main__")]

    # ------------------------------------------------------------------ loop

    def runner_loop_iteration(self) -> None:
        self._handle_messages()
        self._reap_children()
        if not self._busy():
            self._ready_spare()  # else when a child finishes (see _reap_children)
        self._grant_resumes()
        free = self._free_slots()
        if free <= 0 or any(c.wants_resume for c in self._children.values()):
            self._handle_messages(timeout=self.conf.runner_poll_timeout_seconds)
            return
        delivered = self.app.broker.retrieve_invocations(
            free, timeout=min(_RETRIEVE_SECONDS, self.conf.runner_poll_timeout_seconds)
        )
        for invocation_id in delivered:
            self._start_child(invocation_id)
        self.app.broker.ack_invocations(delivered)

    def _busy(self) -> int:
        return sum(1 for c in self._children.values() if not (c.paused or c.finished))

    def _free_slots(self) -> int:
        return self.max_parallel_slots - self._busy()

    def _start_child(self, invocation_id: InvocationId) -> None:
        child_ctx = self.runner_context.new_child(
            "ProcessRunnerChild", f"{self.runner_id}-inv-{invocation_id[:12]}-{os.urandom(2).hex()}"
        )
        if not self.app.orchestrator.claim_invocations([invocation_id], child_ctx, start=True):
            return
        assert self._messages is not None
        started = self._assign_to_spare(child_ctx, invocation_id)
        if started is None:
            resume = self._mp.Event()
            process = self._mp.Process(
                target=run_invocation_in_child,
                args=(self.app, child_ctx, invocation_id, self._messages, resume),
                name=f"pynenc-{invocation_id[:7]}",
            )
            process.start()
            started = (process, resume)
        process, resume = started
        child_ctx = replace(child_ctx, pid=process.pid or 0)
        self._register_new_child_runner_context(child_ctx)
        self._children[child_ctx.runner_id] = _Child(child_ctx, invocation_id, process, resume)

    def _ready_spare(self) -> None:
        """Start the next spare process if there is none (or it died)."""
        if self._spare is not None and self._spare.process.is_alive():
            return
        if self._spare is not None:
            self._discard_spare()
        if not self.running or self._messages is None:
            return
        receive, send = self._mp.Pipe(duplex=False)
        resume = self._mp.Event()
        process = self._mp.Process(
            target=run_spare_child,
            args=(self.app, receive, self._messages, resume),
            name="pynenc-spare",
        )
        process.start()
        receive.close()
        self._spare = _Spare(process, send, resume)

    def _assign_to_spare(
        self, child_ctx: RunnerContext, invocation_id: InvocationId
    ) -> tuple[BaseProcess, MpEvent] | None:
        """Hand the invocation to the spare process; None when there is no live one."""
        spare, self._spare = self._spare, None
        if spare is None or not spare.process.is_alive():
            if spare is not None:
                spare.assign.close()
            return None
        try:
            spare.assign.send((replace(child_ctx, pid=spare.process.pid or 0), invocation_id))
        except OSError:
            spare.assign.close()
            spare.process.kill()
            return None
        spare.assign.close()
        return spare.process, spare.resume

    def _discard_spare(self) -> None:
        """Let the spare process go (it exits without running anything)."""
        spare, self._spare = self._spare, None
        if spare is None:
            return
        try:
            spare.assign.send(None)
        except OSError:
            pass
        spare.assign.close()
        spare.process.join(2)
        if spare.process.is_alive():
            spare.process.kill()
            spare.process.join(2)

    def _handle_messages(self, timeout: float = 0.0) -> None:
        if self._messages is None:
            return
        block = timeout > 0
        while True:
            try:
                kind, child_id = self._messages.get(block=block, timeout=timeout if block else None)
            except queue.Empty:
                return
            block = False
            child = self._children.get(child_id)
            if child is None:
                continue
            if kind == _PAUSED:
                child.paused = True
            elif kind == _RESUME:
                child.wants_resume = True
            elif kind == _DONE:
                child.finished = True

    def _grant_resumes(self) -> None:
        for child in self._children.values():
            if child.wants_resume and self._free_slots() > 0:
                child.wants_resume = False
                child.paused = False
                child.resume.set()

    def _reap_children(self) -> None:
        for child_id, child in list(self._children.items()):
            if child.finished:
                child.process.join(5)
            if child.process.is_alive():
                continue
            child.process.join()
            del self._children[child_id]
            # the next spare starts as a child ends, not while a child that was just handed
            # its invocation competes with it for the CPU
            self._ready_spare()
            self._forget_child(child.context)
            try:
                self._hand_back(child)
            except PynencError:
                self.logger.exception("could not check invocation %s", child.invocation_id[:7])

    def _hand_back(self, child: _Child) -> None:
        """After a child exits: if its invocation is still active, it died mid-run (an
        invocation no longer known, e.g. purged meanwhile, needs nothing)."""
        records = self.app.orchestrator.get_status_records([child.invocation_id])
        record = records.get(child.invocation_id)
        status = record.status if record else None
        if status in ACTIVE_STATUSES:
            self.logger.warning(
                "process %s exited (code %s) with invocation %s %s: KILLED and rerouted",
                child.process.pid,
                child.process.exitcode,
                child.invocation_id[:7],
                status,
            )
            self._kill_and_reroute(child.invocation_id, child.context)

    # ------------------------------------------------------------------ stopping

    def _on_stop_runner_loop(self) -> None:
        """Let children finish within the grace period, then kill the rest and reroute."""
        self._discard_spare()
        deadline = time.monotonic() + self.conf.graceful_shutdown_timeout_seconds
        while self._children and time.monotonic() < deadline:
            self._handle_messages(timeout=0.05)
            self._grant_resumes()
            self._reap_children()
        for child in self._children.values():
            child.process.kill()
        for child in list(self._children.values()):
            child.process.join(5)
        self._reap_children()
        if self._messages is not None:
            self._messages.close()

    def _shutdown_details(self) -> dict[str, Any]:
        return {
            "children": ", ".join(
                f"{c.invocation_id[:7]}(pid={c.process.pid}, paused={c.paused})"
                for c in self._children.values()
            )
            or "none"
        }


class _ProcessRunnerChild(BaseRunner):
    """The runner inside a child process: executes one invocation, pausing while it waits."""

    def __init__(
        self,
        app: Pynenc,
        runner_context: RunnerContext,
        messages: MpQueue[tuple[str, str]],
        resume: MpEvent,
    ) -> None:
        super().__init__(app, runner_context=runner_context)
        self._messages = messages
        self._resume = resume

    @staticmethod
    def mem_compatible() -> bool:
        return False

    @property
    def max_parallel_slots(self) -> int:
        return 1

    def get_active_child_runner_ids(self) -> list[str]:
        return []

    def runner_loop_iteration(self) -> None:
        """Children execute exactly one invocation; they have no loop."""

    def _on_start(self) -> None:
        """Children are started by their parent."""

    def _on_stop_runner_loop(self) -> None:
        """Children are stopped by their parent."""

    def _waiting_for_results(
        self,
        running_invocation_id: InvocationId | None,
        result_invocation_ids: list[InvocationId],
        runner_args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[InvocationId, InvocationStatusRecord]:
        orchestrator = self.app.orchestrator
        finals = orchestrator.wait_for_final(result_invocation_ids, 0.0)
        if finals or running_invocation_id is None:
            return finals or orchestrator.wait_for_final(result_invocation_ids, wait_chunk(timeout))
        deadline = None if timeout is None else time.monotonic() + timeout
        orchestrator.set_invocation_status(
            running_invocation_id, InvocationStatus.PAUSED, self.runner_context
        )
        self._messages.put((_PAUSED, self.runner_id))
        try:
            while not finals:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                finals = orchestrator.wait_for_final(result_invocation_ids, wait_chunk(remaining))
        finally:
            self._resume.clear()
            self._messages.put((_RESUME, self.runner_id))
            self._resume.wait()
            orchestrator.set_invocation_status(
                running_invocation_id, InvocationStatus.RUNNING, self.runner_context
            )
        return finals


def run_spare_child(
    app: Pynenc,
    assignments: Connection,
    messages: MpQueue[tuple[str, str]],
    resume: MpEvent,
) -> None:
    """Entry point of a spare process: open the app's connections, wait for an invocation
    from the parent, run it and exit; exit at once when the parent sends nothing (None) or
    goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        app.open_connections()  # now, not when the call comes
    except Exception:  # the call reports what is wrong when it comes
        app.logger.debug("a spare process could not connect ahead", exc_info=True)
    try:
        assignment = assignments.recv()
    except (EOFError, OSError):
        return
    finally:
        assignments.close()
    if assignment is None:
        return
    child_context, invocation_id = assignment
    run_invocation_in_child(app, child_context, invocation_id, messages, resume)


def run_invocation_in_child(
    app: Pynenc,
    child_context: RunnerContext,
    invocation_id: InvocationId,
    messages: MpQueue[tuple[str, str]],
    resume: MpEvent,
) -> None:
    """Entry point of a ProcessRunner child: run one invocation and exit.

    Signals are left to the parent, which decides when a child must stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child_context = replace(child_context, pid=os.getpid())
    runner = _ProcessRunnerChild(app, child_context, messages, resume)
    loaded, errors = app.state_backend.load_invocations([invocation_id])
    if errors:
        app.orchestrator.fail_unrunnable(
            invocation_id, errors[invocation_id], child_context, running=True
        )
        messages.put((_DONE, child_context.runner_id))
        return
    invocation = loaded[0]
    tokens = (
        context.current_runner.set(runner),
        context.current_runner_context.set(child_context),
        context.current_invocation.set(invocation),
    )
    try:
        execute_invocation(runner, invocation, started=True)  # the parent's claim started it
    finally:
        messages.put((_DONE, child_context.runner_id))
        context.current_invocation.reset(tokens[2])
        context.current_runner_context.reset(tokens[1])
        context.current_runner.reset(tokens[0])
