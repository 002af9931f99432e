"""ThreadRunner: executes invocations in threads of one process.

A slot is one invocation executing. A leader thread claims as many invocations as there are
free slots in one call; each runs in a pooled thread, except one invocation of a task known to
be short (its runs took well under a millisecond, without waiting on I/O), which the leader runs
itself: handing work to another thread costs more than such a task, and running it in parallel
gains nothing. A finishing invocation claims the next due one for its slot in the same step, so
under load each thread goes from one invocation to the next without waiting for the leader.

While the leader runs an invocation (it waits on others, or runs longer than
:data:`LEADER_RELIEF_SECONDS`), a relief thread claims work for the free slots in its place.
A task that waits on other invocations gives its slot back while it waits, so a chain of tasks
waiting on each other cannot starve the runner.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pynenc.conf.config_runner import ConfigThreadRunner
from pynenc.exceptions import InvocationStatusError, PynencError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation import context
from pynenc.invocation.status import InvocationStatusRecord
from pynenc.runner.base_runner import BaseRunner, describe_invocations, wait_chunk

if TYPE_CHECKING:
    from pynenc.invocation.dist_invocation import DistributedInvocation

_Job = tuple[Callable[..., None], tuple[Any, ...]]

SHORT_TASK_SECONDS = 0.0005
"""A task whose runs took less than this (on average) is run by the leader itself..."""

SHORT_TASK_WAIT_SECONDS = 0.0001
"""...when they also spent less than this off the CPU (waiting on I/O): such tasks gain
nothing from running in parallel threads, while a hand-off costs as much as the task."""

LEADER_RELIEF_SECONDS = 0.05
"""How long the leader may run one invocation before a relief thread claims work in its place
(also how often the runner's main thread checks)."""

_DURATION_WEIGHT = 0.2
"""Weight of the latest run in a task's average duration."""


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

    def free_now(self) -> int:
        """Free slots at this moment, none while a resuming task wants one."""
        with self._changed:
            return self._free if self._free > 0 and not self._resuming else 0

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

    @property
    def resuming(self) -> bool:
        """Whether a task that waited is queued for a slot (it goes before new work)."""
        return self._resuming > 0


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
        self._durations: dict[str, tuple[float, float]] = {}
        """Average run time and time off the CPU of each task run here (seconds)."""
        self._claim_lock = threading.Lock()
        """Held while claiming for free slots, so two claimers never count the same slot."""
        self._leader: threading.Thread | None = None
        self._leading_since: float | None = None
        """monotonic() when the leader started the invocation it runs (None: not running one)."""
        self._relieving = False

    @staticmethod
    def mem_compatible() -> bool:
        return True

    @property
    def max_parallel_slots(self) -> int:
        return self._max_slots

    def get_active_child_runner_ids(self) -> list[str]:
        return []

    def _on_start(self) -> None:
        """Threads are started by the loop (the leader once the runner heartbeats)."""

    # ------------------------------------------------------------------ dispatch

    def runner_loop_iteration(self) -> None:
        """The main thread keeps the leader alive and relieves it when it runs an invocation
        for long."""
        if self._leader is None or not self._leader.is_alive():
            self._start_leader()
        if self._stop_event.wait(LEADER_RELIEF_SECONDS):
            return
        started = self._leading_since
        if started is not None and time.monotonic() - started >= LEADER_RELIEF_SECONDS:
            self._relieve_leader()

    def _start_leader(self) -> None:
        self._leader = threading.Thread(
            target=self._lead, name=f"pynenc-{self.runner_id}-leader", daemon=True
        )
        self._leader.start()

    def _lead(self) -> None:
        """The leader's loop: claim work for the free slots, run a short one itself."""
        context.current_runner.set(self)
        context.current_runner_context.set(self.runner_context)
        while self.running:
            inline = self._dispatch(run_short=True)
            if inline is not None:
                self._run_chain(inline, leading=True)

    def _relieve_leader(self) -> None:
        """Claim work for the free slots while the leader runs an invocation."""
        with self._in_flight_lock:
            if self._relieving:
                return
            self._relieving = True
        self._pool.submit(self._relief)

    def _relief(self) -> None:
        tokens = (
            context.current_runner.set(self),
            context.current_runner_context.set(self.runner_context),
        )
        try:
            while self.running and self._leading_since is not None:
                self._dispatch(run_short=False)
        finally:
            self._relieving = False
            context.current_runner_context.reset(tokens[1])
            context.current_runner.reset(tokens[0])

    def _dispatch(self, run_short: bool) -> DistributedInvocation[Any, Any] | None:
        """Claim invocations for the free slots and hand them to pooled threads; with
        ``run_short``, return one of a short task instead, for the caller to run."""
        if not self._slots.wait_for_capacity(timeout=0.2):
            return None
        with self._claim_lock:
            slots = self._slots.free_now()
            if not slots or not self.running:
                return None
            invocations = self._fetch(slots)
            self._slots.take(len(invocations))
            with self._in_flight_lock:
                for invocation in invocations:
                    self._in_flight[invocation.invocation_id] = invocation
        if invocations and self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "claimed %d invocation(s): %s",
                len(invocations),
                describe_invocations([i.invocation_id for i in invocations]),
            )
        inline = None
        for invocation in invocations:
            if run_short and inline is None and self._is_short(invocation):
                inline = invocation
            else:
                self._pool.submit(self._run_invocation, invocation)
        return inline

    def _fetch(self, slots: int) -> list[DistributedInvocation[Any, Any]]:
        try:
            return self.app.orchestrator.get_invocations_to_run(
                slots,
                self.runner_context,
                timeout=self.conf.runner_poll_timeout_seconds,
                start=True,
            )
        except PynencError:
            self.logger.exception("could not fetch invocations; retrying")
        except Exception:
            self.logger.exception("backend error while fetching invocations; retrying")
            self._stop_event.wait(self.conf.runner_poll_timeout_seconds)
        return []

    def _is_short(self, invocation: DistributedInvocation[Any, Any]) -> bool:
        average = self._durations.get(invocation.call.task.task_id.key)
        return (
            average is not None
            and average[0] < SHORT_TASK_SECONDS
            and average[1] < SHORT_TASK_WAIT_SECONDS
        )

    def _note_duration(
        self, invocation: DistributedInvocation[Any, Any], seconds: float, cpu_seconds: float
    ) -> None:
        key = invocation.call.task.task_id.key
        waited = max(0.0, seconds - cpu_seconds)
        average = self._durations.get(key)
        if average is None:
            self._durations[key] = (seconds, waited)
        else:
            self._durations[key] = (
                average[0] + _DURATION_WEIGHT * (seconds - average[0]),
                average[1] + _DURATION_WEIGHT * (waited - average[1]),
            )

    def _run_invocation(self, invocation: DistributedInvocation[Any, Any]) -> None:
        tokens = (
            context.current_runner.set(self),
            context.current_runner_context.set(self.runner_context),
        )
        try:
            self._run_chain(invocation, leading=False)
        finally:
            context.current_runner_context.reset(tokens[1])
            context.current_runner.reset(tokens[0])

    def _run_chain(self, invocation: DistributedInvocation[Any, Any], leading: bool) -> None:
        """Run ``invocation`` and, while more work is due, the invocations its final step
        claims for the slot it frees (no round trip, no hand-off between threads). The leader
        runs only short ones: it hands any other one, with the slot, to a pooled thread."""
        self._holds_slot.value = True
        current: DistributedInvocation[Any, Any] | None = invocation
        handed_over = False
        try:
            while current is not None:
                token = context.current_invocation.set(current)
                claim_next = self._claim_next()
                wait_next = 0.0
                if leading:
                    self._leading_since = time.monotonic()
                    wait_next = self._wait_next(claim_next)
                try:
                    outcome = execute_invocation(
                        self,
                        current,
                        started=True,
                        claim_next=claim_next,
                        wait_next=wait_next,
                        on_ran=self._stop_leading if leading else None,
                    )
                finally:
                    self._leading_since = None
                    context.current_invocation.reset(token)
                if outcome.run_seconds is not None:
                    self._note_duration(current, outcome.run_seconds, outcome.cpu_seconds)
                with self._idle:
                    self._in_flight.pop(current.invocation_id, None)
                    for claimed in outcome.following:
                        self._in_flight[claimed.invocation_id] = claimed
                    self._idle.notify_all()
                current = outcome.following[0] if outcome.following else None
                if leading and current is not None and not self._is_short(current):
                    self._pool.submit(self._run_invocation, current)
                    handed_over, current = True, None
        finally:
            self._holds_slot.value = False
            if not handed_over:
                self._slots.release()

    def _claim_next(self) -> int:
        """How many invocations a finishing task claims for its slot: one, unless the runner
        is stopping or a task resuming after a wait needs the slot."""
        return 1 if self.running and not self._slots.resuming else 0

    def _wait_next(self, claim_next: int) -> float:
        """How long the leader's finishing step may wait for its next invocation when nothing
        is due (the backend may wait in the same round trip): as long as the leader would
        wait for work next anyway, when it has nothing else to run and the wait keeps no
        slot from anyone (another slot is free, no task waits to resume)."""
        if not claim_next or self._slots.free_now() < 1:
            return 0.0
        return self.conf.runner_poll_timeout_seconds

    def _stop_leading(self) -> None:
        """The leader's invocation returned: what is left (its final step, and the wait for
        the next one that may go with it) needs no relief."""
        self._leading_since = None

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
            if threading.current_thread() is self._leader:
                self._relieve_leader()
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
        with self._claim_lock:
            pass  # a claim under way has recorded what it claimed; no other one starts
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
        if self._leader is not None:
            self._leader.join(timeout=self.conf.runner_poll_timeout_seconds + 1.0)
        self._pool.shutdown()


class ExecutionOutcome(NamedTuple):
    """What running one invocation left: the invocations its final step claimed next (to run
    now), and how long the task itself ran (None when it did not run) and was on the CPU."""

    following: list[DistributedInvocation[Any, Any]]
    run_seconds: float | None = None
    cpu_seconds: float = 0.0


def execute_invocation(
    runner: BaseRunner,
    invocation: DistributedInvocation[Any, Any],
    started: bool = False,
    claim_next: int = 0,
    wait_next: float = 0.0,
    on_ran: Callable[[], None] | None = None,
) -> ExecutionOutcome:
    """Run one claimed invocation and record its outcome: RUNNING (unless its claim already
    ``started`` it), then SUCCESS, FAILED or RETRY. A write refused because the runner lost
    ownership (killed, recovered) is logged and dropped: someone else now owns the invocation.

    With ``claim_next``, a success claims (and starts) up to that many due invocations for
    the runner in the same step, and returns them for the caller to run next; with
    ``wait_next``, a caller that would wait for work next anyway lets the claim wait up to that
    long (see ``BaseOrchestrator.set_result_and_claim_next``). ``on_ran`` is called once the
    task's function has returned (before its outcome is recorded)."""
    app = runner.app
    orchestrator = app.orchestrator
    logger = runner.logger
    ctx = runner.runner_context
    invocation_id = invocation.invocation_id
    if not started:
        try:
            orchestrator.set_invocation_run(invocation_id, ctx)
        except InvocationStatusError as exc:
            logger.debug("not running %s: %s", invocation_id[:7], exc)
            return ExecutionOutcome([])
    task = invocation.task
    began, began_cpu = time.perf_counter(), time.thread_time()
    ran: float | None = None
    cpu = 0.0
    try:
        try:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "running %s(%s)", task.task_id, app.format_arguments(invocation.call.arguments)
                )
            result = task.run_function(invocation.call.arguments)
        except Exception as exc:  # noqa: BLE001 - the task's failure is its outcome
            ran, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
            conf = task.conf
            if isinstance(exc, conf.retry_for) and (
                orchestrator.get_invocation_retries(invocation_id) < conf.max_retries
            ):
                orchestrator.set_invocation_retry(invocation, exc, ctx)
            else:
                orchestrator.set_invocation_exception(invocation_id, exc, ctx)
                logger.debug("failed with %s", type(exc).__name__)
            return ExecutionOutcome([], ran, cpu)
        ran, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        if on_ran is not None:
            on_ran()
        try:
            following = orchestrator.set_result_and_claim_next(
                invocation_id, result, ctx, claim_next, wait_next
            )
            logger.debug("succeeded")
            return ExecutionOutcome(following, ran, cpu)
        except InvocationStatusError:
            raise
        except PynencError as exc:
            orchestrator.set_invocation_exception(invocation_id, exc, ctx)
    except InvocationStatusError as exc:
        logger.warning("late write refused for invocation %s: %s", invocation_id[:7], exc)
    except Exception:
        logger.exception("could not record the outcome of invocation %s", invocation_id[:7])
    return ExecutionOutcome([], ran, cpu)
