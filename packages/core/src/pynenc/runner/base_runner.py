"""The runner contract, and the runners used outside any worker (clients, scripts)."""

from __future__ import annotations

import importlib
import logging
import os
import platform
import resource
import signal
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_runner import ConfigRunner
from pynenc.exceptions import RunnerError, RunnerNotCompatibleError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation import context
from pynenc.invocation.status import InvocationStatusRecord
from pynenc.runner.runner_context import RunnerContext, _hostname

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.runner.atomic_services import AtomicServiceLoop

WAIT_CHUNK_SECONDS = 1.0
"""Longest single wait before a waiter re-reads stored state (guards against a lost
notification, e.g. during a backend reconnect)."""


def wait_chunk(timeout: float | None) -> float:
    """One bounded wait step within an overall ``timeout`` (None: no overall limit)."""
    return WAIT_CHUNK_SECONDS if timeout is None else min(timeout, WAIT_CHUNK_SECONDS)


class BaseRunner(ABC):
    """Executes invocations: claims them from the broker through the orchestrator, runs them,
    and records their outcome. Subclasses decide where the work runs (threads, processes)."""

    config_cls: ClassVar[type[ConfigRunner]] = ConfigRunner

    def __init__(
        self,
        app: Pynenc,
        runner_cache: dict[str, Any] | None = None,
        runner_context: RunnerContext | None = None,
        config_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.runner_cache = runner_cache if runner_cache is not None else {}
        conf = self.config_cls(sources=app.config_sources)
        self.conf = conf.with_overrides(**config_overrides) if config_overrides else conf
        self._runner_context = runner_context or RunnerContext.current(
            type(self).__name__, self._new_runner_id()
        )
        self.running = False
        self._stop_event = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._child_contexts: dict[str, RunnerContext] = {}
        self._heartbeat_thread: threading.Thread | None = None
        self._atomic_services: AtomicServiceLoop | None = None

    def _new_runner_id(self) -> str:
        return f"{type(self).__name__}-{uuid.uuid4().hex[:12]}"

    @property
    def logger(self) -> logging.Logger:
        """The app's logger, so runner lines follow the app's log format and level."""
        return self.app.logger

    @property
    def runner_context(self) -> RunnerContext:
        return self._runner_context

    @property
    def runner_id(self) -> str:
        return self._runner_context.runner_id

    @property
    def can_run_atomic_service(self) -> bool:
        """Whether this runner takes a slot in the atomic-service schedule: top-level runners
        do; the children of process runners only run tasks (their parent takes part)."""
        return self._runner_context.parent_ctx is None

    # ------------------------------------------------------------------ contract

    @staticmethod
    @abstractmethod
    def mem_compatible() -> bool:
        """Whether the runner can work with in-memory components (one process only)."""

    @property
    @abstractmethod
    def max_parallel_slots(self) -> int:
        """How many invocations the runner executes at once."""

    @abstractmethod
    def get_active_child_runner_ids(self) -> list[str]:
        """Runner ids of live child workers (empty for runners without children)."""

    @abstractmethod
    def runner_loop_iteration(self) -> None:
        """One iteration of the main loop: fetch and dispatch work."""

    @abstractmethod
    def _on_start(self) -> None:
        """Prepare to run (pools, children)."""

    @abstractmethod
    def _on_stop_runner_loop(self) -> None:
        """The loop ended: finish or hand back in-flight work, stop children."""

    def _waiting_for_results(
        self,
        running_invocation_id: InvocationId | None,
        result_invocation_ids: list[InvocationId],
        runner_args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Wait until at least one of the invocations is final; may return empty before
        ``timeout`` (callers loop), never after it. By default the calling thread just blocks:
        runners that execute tasks override this to give the waiting task's slot back."""
        return self.app.orchestrator.wait_for_final(result_invocation_ids, wait_chunk(timeout))

    # ------------------------------------------------------------------ waiting

    def waiting_for_results(
        self,
        running_invocation_id: InvocationId | None,
        result_invocation_ids: list[InvocationId],
        runner_args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[InvocationId, InvocationStatusRecord]:
        """Called while an invocation (or a client, when ``running_invocation_id`` is None)
        waits on others; returns the final records found within ``timeout``."""
        orchestrator = self.app.orchestrator
        if running_invocation_id is not None:
            orchestrator.waiting_for_results(running_invocation_id, result_invocation_ids)
        try:
            return self._waiting_for_results(
                running_invocation_id, result_invocation_ids, runner_args, timeout
            )
        finally:
            if running_invocation_id is not None:
                orchestrator.release_waiter(running_invocation_id)

    async def async_waiting_for_results(
        self,
        running_invocation_id: InvocationId | None,
        result_invocation_ids: list[InvocationId],
        runner_args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[InvocationId, InvocationStatusRecord]:
        import asyncio

        return await asyncio.to_thread(
            self.waiting_for_results,
            running_invocation_id,
            result_invocation_ids,
            runner_args,
            timeout,
        )

    # ------------------------------------------------------------------ life cycle

    def run(self) -> None:
        """Run the main loop until :meth:`stop_runner_loop` (or SIGTERM/SIGINT)."""
        self._check_compatible()
        self._atomic_services = self._new_atomic_service_loop()
        self.init_trigger_tasks_modules()
        previous_handlers = self._install_signal_handlers()
        self._stopped.clear()
        self.running = not self._stop_event.is_set()
        token = context.current_runner.set(self)
        try:
            self.app.store_app_info()
            self.app.state_backend.store_runner_context(self.runner_context)
            self._on_start()
            self._start_heartbeat()
            if self._atomic_services is not None:
                self._atomic_services.start()
            self.logger.info(
                "%s %s started with %d slots",
                type(self).__name__,
                self.runner_id,
                self.max_parallel_slots,
            )
            while self.running:
                self.runner_loop_iteration()
        finally:
            self.running = False
            self._stop_event.set()
            try:
                self._on_stop_runner_loop()
            finally:
                if self._atomic_services is not None:
                    self._atomic_services.join()
                self._stop_heartbeat()
                self.logger.info("%s %s stopped", type(self).__name__, self.runner_id)
                context.current_runner.reset(token)
                _restore_signal_handlers(previous_handlers)
                self._stop_event.clear()
                self._stopped.set()

    def _check_compatible(self) -> None:
        if not self.mem_compatible() and not self.app.spans_processes:
            raise RunnerNotCompatibleError(
                f"{type(self).__name__} runs work in other processes, but the app uses "
                "in-memory components that live in one process only. Use ThreadRunner, or "
                "configure a shared backend (SQLite, Redis, ...)."
            )

    def stop_runner_loop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Stop the main loop (typically from a signal handler); logs shutdown diagnostics."""
        self._log_shutdown(signum)
        self.running = False
        self._stop_event.set()

    def wait_until_stopped(self, timeout: float = 2.0) -> bool:
        """Block until :meth:`run` has fully exited; True if it did within ``timeout``."""
        return self._stopped.wait(timeout)

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self.stop_runner_loop)
        return previous

    def _shutdown_details(self) -> dict[str, Any]:
        """What the shutdown log reports; subclasses add their workers and invocations."""
        return {}

    def _log_shutdown(self, signum: int | None) -> None:
        reason = signal.Signals(signum).name if signum else "stop requested"
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        details = {
            "runner": str(self.runner_context),
            "reason": reason,
            "threads": threading.active_count(),
            "peak_rss_mb": round(rss_mb, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            **self._shutdown_details(),
        }
        self.logger.info(
            "Runner shutting down: %s", ", ".join(f"{k}={v}" for k, v in details.items())
        )

    # ------------------------------------------------------------------ heartbeats

    def _start_heartbeat(self) -> None:
        self._send_heartbeats()
        thread = threading.Thread(
            target=self._heartbeat_loop, name=f"pynenc-heartbeat-{self.runner_id}", daemon=True
        )
        self._heartbeat_thread = thread
        thread.start()

    def _heartbeat_loop(self) -> None:
        interval = self.conf.runner_heartbeat_interval_seconds
        while not self._stop_event.wait(interval):
            try:
                self._send_heartbeats()
            except Exception:
                self.logger.exception("heartbeat failed; retrying in %.1fs", interval)

    def _send_heartbeats(self) -> None:
        self.app.orchestrator.register_runner_heartbeats(
            [self.runner_id], can_run_atomic_service=self.can_run_atomic_service
        )
        self._report_child_runner_heartbeats()

    def _new_atomic_service_loop(self) -> AtomicServiceLoop | None:
        """The schedule participation of this runner (None if it takes no part); building it
        validates the recovery cron fields, so a bad one fails at start."""
        if not self.can_run_atomic_service:
            return None
        from pynenc.runner.atomic_services import AtomicServiceLoop

        return AtomicServiceLoop(self)

    def _check_atomic_services(self) -> None:
        """Run the atomic global services now if this runner's slot has come (the check thread
        calls this every ``atomic_service_check_interval_minutes``); never raises."""
        if self._atomic_services is not None:
            self._atomic_services.check()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5)
            self._heartbeat_thread = None
        try:
            self.app.orchestrator.unregister_runners([self.runner_id, *self._child_contexts.keys()])
        except Exception:
            self.logger.exception("could not unregister runner %s", self.runner_id)

    def _register_new_child_runner_context(self, child_context: RunnerContext) -> None:
        """Remember a child's context, store it, and give it a first heartbeat."""
        self._child_contexts[child_context.runner_id] = child_context
        self.app.state_backend.store_runner_context(child_context)
        self.app.orchestrator.register_runner_heartbeats([child_context.runner_id])

    def _forget_child(self, child_context: RunnerContext) -> None:
        """A child is gone for good: stop tracking it and drop its heartbeat record (its stored
        context stays for the history that names it)."""
        self._child_contexts.pop(child_context.runner_id, None)
        self.app.orchestrator.unregister_runners([child_context.runner_id])

    def _report_child_runner_heartbeats(self) -> None:
        """Heartbeat, on their behalf, the children the OS says are alive."""
        self.app.orchestrator.register_runner_heartbeats(self.get_active_child_runner_ids())

    # ------------------------------------------------------------------ helpers

    def _kill_and_reroute(
        self, invocation_id: InvocationId, runner_ctx: RunnerContext | None = None
    ) -> bool:
        """Mark an in-flight invocation KILLED and queue it again (nothing is lost).

        Does nothing when it already reached a final status."""
        return self.app.orchestrator.kill_and_reroute(
            invocation_id, runner_ctx or self.runner_context
        )

    def init_trigger_tasks_modules(self) -> None:
        """Import ``trigger_task_modules`` so their tasks (and triggers) are registered, store
        those triggers, and warn about tasks whose triggers cannot fire."""
        for module in sorted(self.app.conf.trigger_task_modules):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise RunnerError(
                    f"Cannot import trigger task module '{module}' listed in "
                    f"trigger_task_modules: {exc}"
                ) from exc
        if self._runner_context.parent_ctx is not None:
            return
        for task_id in self.app.trigger.ignored_trigger_tasks():
            self.logger.warning(
                "Task %s declares triggers, but its module '%s' is not in trigger_task_modules: "
                "runners neither register nor evaluate its triggers, so they will not fire. "
                "Add '%s' to trigger_task_modules.",
                task_id,
                task_id.module,
                task_id.module,
            )
        self.app.trigger.register_task_triggers()


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


class DummyRunner(BaseRunner):
    """The runner of a process that only submits work and waits for results."""

    @staticmethod
    def mem_compatible() -> bool:
        return True

    @property
    def max_parallel_slots(self) -> int:
        return 1

    @property
    def can_run_atomic_service(self) -> bool:
        return False

    def get_active_child_runner_ids(self) -> list[str]:
        return []

    def runner_loop_iteration(self) -> None:
        raise RunnerError(
            f"{type(self).__name__} does not execute invocations; start a real runner, e.g. "
            "`pynenc --app module:app runner start`."
        )

    def _on_start(self) -> None:
        self.runner_loop_iteration()

    def _on_stop_runner_loop(self) -> None:
        """Nothing runs here, so nothing to stop."""


class ExternalRunner(DummyRunner):
    """A client process (script, web app, CLI): identified by host and pid so its history
    entries say who registered what."""

    def __init__(self, app: Pynenc, runner_cache: dict[str, Any] | None = None) -> None:
        super().__init__(app, runner_cache, self.get_default_external_runner_context())

    @classmethod
    def get_default_external_runner_context(cls) -> RunnerContext:
        pid = os.getpid()
        return RunnerContext(
            runner_cls=cls.__name__,
            runner_id=f"{_hostname()}-{pid}",
            pid=pid,
            hostname=_hostname(),
            thread_id=0,
        )


def describe_invocations(ids: Sequence[InvocationId]) -> str:
    """Short ids for logs."""
    return ", ".join(i[:7] for i in ids) or "none"


__all__ = ["BaseRunner", "DummyRunner", "ExternalRunner", "describe_invocations"]
