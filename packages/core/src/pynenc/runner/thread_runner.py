"""ThreadRunner: executes invocations in threads of one process.

A slot is one invocation executing. The dispatcher claims as many invocations as there are free
slots in one call; each runs in a pooled thread. A task that waits on other invocations gives
its slot back while it waits, so a chain of tasks waiting on each other cannot starve the runner.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pynenc.conf.config_runner import ConfigThreadRunner
from pynenc.exceptions import InvocationStatusError, PynencError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation import context
from pynenc.invocation.status import InvocationStatusRecord
from pynenc.runner.base_runner import BaseRunner, describe_invocations, wait_chunk

if TYPE_CHECKING:
    from pynenc.invocation.dist_invocation import DistributedInvocation

_Job = tuple[Callable[..., None], tuple[Any, ...]]


class _WorkerPool:
    """Threads started on demand and reused; idle ones beyond ``max_idle`` exit.

    Unlike a fixed pool it never makes a job wait behind threads that are blocked waiting on
    other invocations.
    """

    def __init__(self, name: str, max_idle: int) -> None:
        self._name = name
        self._max_idle = max_idle
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                spawn = False
            else:
                self._threads += 1
                spawn = True
        self._jobs.put((fn, args))
        if spawn:
            threading.Thread(
                target=self._work, name=f"{self._name}-{self._threads}", daemon=True
            ).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            fn(*args)
            with self._lock:
                if self._idle >= self._max_idle:
                    self._threads -= 1
                    return
                self._idle += 1

    def shutdown(self) -> None:
        with self._lock:
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)

    @property
    def thread_count(self) -> int:
        return self._threads


class _Slots:
    """Counts free execution slots. A task resuming after a wait gets a slot before new work
    is dispatched, so waiting chains drain instead of starving."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._resuming = 0
        self._changed = threading.Condition()

    def wait_for_capacity(self, timeout: float) -> int:
        """Free slots once some are free and no resuming task wants one; 0 after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self._free > 0 and not self._resuming, timeout)
            return self._free if self._free > 0 and not self._resuming else 0

    def take(self, count: int) -> None:
        with self._changed:
            self._free -= count

    def resume(self) -> None:
        """Take a slot back after waiting, ahead of new work."""
        with self._changed:
            self._resuming += 1
            try:
                self._changed.wait_for(lambda: self._free > 0)
                self._free -= 1
            finally:
                self._resuming -= 1

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()

    @property
    def busy(self) -> int:
        return self.size - self._free


class ThreadRunner(BaseRunner):
    """Runs up to ``max_threads`` invocations at once in threads of this process."""

    config_cls: ClassVar[type[ConfigThreadRunner]] = ConfigThreadRunner
    conf: ConfigThreadRunner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_slots = self.conf.effective_max_threads()
        self._slots = _Slots(self._max_slots)
        self._pool = _WorkerPool(f"pynenc-{self.runner_id}", max_idle=self._max_slots)
        self._in_flight: dict[InvocationId, DistributedInvocation[Any, Any]] = {}
        self._in_flight_lock = threading.Lock()
        self._idle = threading.Condition(self._in_flight_lock)
        self._holds_slot = threading.local()

    @staticmethod
    def mem_compatible() -> bool:
        return True

    @property
    def max_parallel_slots(self) -> int:
        return self._max_slots

    def get_active_child_runner_ids(self) -> list[str]:
        return []

    def _on_start(self) -> None:
        """Threads are started on demand."""

    # ------------------------------------------------------------------ dispatch

    def runner_loop_iteration(self) -> None:
        slots = self._slots.wait_for_capacity(timeout=0.2)
        if not slots:
            return
        try:
            invocations = self.app.orchestrator.get_invocations_to_run(
                slots, self.runner_context, timeout=self.conf.runner_poll_timeout_seconds
            )
        except PynencError:
            self.logger.exception("could not fetch invocations; retrying")
            invocations = []
        except Exception:
            self.logger.exception("backend error while fetching invocations; retrying")
            self._stop_event.wait(self.conf.runner_poll_timeout_seconds)
            invocations = []
        self._slots.take(len(invocations))
        if invocations and self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "claimed %d invocation(s): %s",
                len(invocations),
                describe_invocations([i.invocation_id for i in invocations]),
            )
        for invocation in invocations:
            with self._in_flight_lock:
                self._in_flight[invocation.invocation_id] = invocation
            self._pool.submit(self._run_invocation, invocation)

    def _run_invocation(self, invocation: DistributedInvocation[Any, Any]) -> None:
        self._holds_slot.value = True
        tokens = (
            context.current_runner.set(self),
            context.current_runner_context.set(self.runner_context),
            context.current_invocation.set(invocation),
        )
        try:
            execute_invocation(self, invocation)
        finally:
            context.current_invocation.reset(tokens[2])
            context.current_runner_context.reset(tokens[1])
            context.current_runner.reset(tokens[0])
            self._holds_slot.value = False
            with self._idle:
                self._in_flight.pop(invocation.invocation_id, None)
                self._idle.notify_all()
            self._slots.release()

    # ------------------------------------------------------------------ waiting

    def _waiting_for_results(
        self,
        running_invocation_id: InvocationId | None,
        result_invocation_ids: list[InvocationId],
        runner_args: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[InvocationId, InvocationStatusRecord]:
        holds_slot = getattr(self._holds_slot, "value", False)
        if holds_slot:
            self._slots.release()
        try:
            return self.app.orchestrator.wait_for_final(result_invocation_ids, wait_chunk(timeout))
        finally:
            if holds_slot:
                self._slots.resume()

    # ------------------------------------------------------------------ stopping

    def _shutdown_details(self) -> dict[str, Any]:
        with self._in_flight_lock:
            in_flight = list(self._in_flight)
        return {
            "in_flight": describe_invocations(in_flight),
            "worker_threads": self._pool.thread_count,
        }

    def _on_stop_runner_loop(self) -> None:
        """Give in-flight work the grace period, then hand what is left back to the queue."""
        deadline = time.monotonic() + self.conf.graceful_shutdown_timeout_seconds
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            leftovers = list(self._in_flight)
        for invocation_id in leftovers:
            try:
                if self._kill_and_reroute(invocation_id):
                    self.logger.warning(
                        "invocation %s did not finish within the grace period: KILLED and rerouted",
                        invocation_id[:7],
                    )
            except Exception:
                self.logger.exception("could not reroute invocation %s", invocation_id)
        self._pool.shutdown()


def execute_invocation(runner: BaseRunner, invocation: DistributedInvocation[Any, Any]) -> None:
    """Run one claimed invocation and record its outcome: RUNNING, then SUCCESS, FAILED or
    RETRY. A write refused because the runner lost ownership (killed, recovered) is logged and
    dropped: someone else now owns the invocation."""
    app = runner.app
    orchestrator = app.orchestrator
    logger = runner.logger
    ctx = runner.runner_context
    invocation_id = invocation.invocation_id
    try:
        orchestrator.set_invocation_run(invocation_id, ctx)
    except InvocationStatusError as exc:
        logger.debug("not running %s: %s", invocation_id[:7], exc)
        return
    task = invocation.task
    try:
        try:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "running %s(%s)", task.task_id, app.format_arguments(invocation.call.arguments)
                )
            result = task.run_function(invocation.call.arguments)
        except Exception as exc:  # noqa: BLE001 - the task's failure is its outcome
            conf = task.conf
            if isinstance(exc, conf.retry_for) and (
                orchestrator.get_invocation_retries(invocation_id) < conf.max_retries
            ):
                orchestrator.set_invocation_retry(invocation, exc, ctx)
            else:
                orchestrator.set_invocation_exception(invocation_id, exc, ctx)
                logger.debug("failed with %s", type(exc).__name__)
            return
        try:
            orchestrator.set_invocation_result(invocation_id, result, ctx)
            logger.debug("succeeded")
        except InvocationStatusError:
            raise
        except PynencError as exc:
            orchestrator.set_invocation_exception(invocation_id, exc, ctx)
    except InvocationStatusError as exc:
        logger.warning("late write refused for invocation %s: %s", invocation_id[:7], exc)
    except Exception:
        logger.exception("could not record the outcome of invocation %s", invocation_id[:7])
