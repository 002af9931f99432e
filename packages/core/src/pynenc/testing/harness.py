"""What every contract test stands on: isolated apps built from the backend's one fixture,
capability checks, the optional back door, runners in background threads, and small waiting
and racing helpers that synchronise on events and deadlines instead of sleeps."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar, cast

import pytest

from pynenc.app import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.dist_invocation import DistributedInvocation
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.runner_context import RunnerContext
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.state_backend.base_state_backend import InvocationHistory
from pynenc.task import Task
from pynenc.testing import tasks
from pynenc.testing.backdoor import Backdoor
from pynenc.testing.capabilities import Capabilities, ConformanceConfig
from pynenc.util.clock import Clock, FakeClock

T = TypeVar("T")

CONFIG_FIXTURE = "pynenc_conformance_config"
CAPABILITIES_FIXTURE = "pynenc_capabilities"
BACKDOOR_FIXTURE = "pynenc_backdoor"

WAIT_SECONDS = 10.0
"""Longest any scenario waits for something that should happen at once; a timeout is a bug."""

QUIET_LOGGING: dict[str, Any] = {"logging_level": "warning"}
"""Default of every suite app (the backend's config may override it): only problems are logged."""

RUNNER_CONFIG: dict[str, Any] = {
    "runner_poll_timeout_seconds": 0.05,
    "graceful_shutdown_timeout_seconds": 2.0,
    "max_threads": 4,
}
"""Runner settings for scenarios: short polls so a runner stops promptly."""


class RunningRunner:
    """A ThreadRunner working in a background thread until :meth:`stop`."""

    def __init__(self, runner: ThreadRunner) -> None:
        self.runner = runner
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"conformance-{runner.runner_id}")
        self.thread.daemon = True

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self.error = exc

    def start(self) -> RunningRunner:
        self.thread.start()
        wait_until(
            lambda: self.runner.running or not self.thread.is_alive(),
            "the runner did not start",
        )
        self._raise_error()
        return self

    def stop(self) -> None:
        self.runner.stop_runner_loop()
        stopped = self.runner.wait_until_stopped(WAIT_SECONDS)
        self.thread.join(WAIT_SECONDS)
        self._raise_error()
        assert stopped and not self.thread.is_alive(), (
            f"a runner must stop within {WAIT_SECONDS}s of stop_runner_loop()"
        )

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error


class ConformanceHarness:
    """Builds isolated apps on the backend under test and cleans up after each test."""

    def __init__(
        self,
        config: ConformanceConfig,
        capabilities: Capabilities | None,
        backdoor: Backdoor | None,
    ) -> None:
        self.config = config
        self._declared_capabilities = capabilities or Capabilities()
        self._capabilities: Capabilities | None = None
        self._backdoor = backdoor
        self._apps: list[Pynenc] = []
        self._runners: list[RunningRunner] = []
        self._app: Pynenc | None = None

    # ------------------------------------------------------------------ apps

    def new_app(
        self, *, clock: Clock | None = None, app_id: str | None = None, **config_values: Any
    ) -> Pynenc:
        """An app on the backend under test with its own app id (purged after the test)."""
        values = {**QUIET_LOGGING, **self.config.config_values, **config_values}
        app = Pynenc(
            app_id=app_id or f"conformance-{uuid.uuid4().hex[:12]}",
            config_values=values,
            config_filepath=self.config.config_filepath,
        )
        if clock is not None:
            app.clock = clock
        self._apps.append(app)
        return app

    @property
    def app(self) -> Pynenc:
        """The test's default app (real clock)."""
        if self._app is None:
            self._app = self.new_app()
        return self._app

    def task(self, task: Task[Any, Any], app: Pynenc | None = None) -> Task[Any, Any]:
        """A task of :mod:`pynenc.testing.tasks` bound to ``app`` (default: :attr:`app`)."""
        return (app or self.app).get_task(task.task_id)

    def register(
        self, app: Pynenc, task: Task[Any, Any] = tasks.add, *args: Any
    ) -> DistributedInvocation[Any, Any]:
        """Register (and queue) one invocation, as a client calling the task does."""
        call_args = args or (1, 2)
        return cast("DistributedInvocation[Any, Any]", self.task(task, app)(*call_args))

    @staticmethod
    def runner_context(label: str = "runner") -> RunnerContext:
        """A context for a runner that exists only in the test, with a unique id."""
        return RunnerContext.current("ConformanceRunner", f"conformance-{label}-{uuid.uuid4().hex}")

    @staticmethod
    def statuses(app: Pynenc, invocation_id: InvocationId) -> list[InvocationStatus]:
        """The statuses of the invocation's history, oldest first."""
        return [h.status_record.status for h in app.state_backend.get_history(invocation_id)]

    @staticmethod
    def history(app: Pynenc, invocation_id: InvocationId) -> list[InvocationHistory]:
        return app.state_backend.get_history(invocation_id)

    @staticmethod
    def counts(app: Pynenc, task: Task[Any, Any] | None = None) -> dict[InvocationStatus, int]:
        """The orchestrator's status counts (of one task, or all), statuses with none left out."""
        counts = app.orchestrator.count_invocations(task.task_id.key if task else None)
        return {status: count for status, count in counts.items() if count}

    # ------------------------------------------------------------------ runners

    def start_runner(self, app: Pynenc) -> RunningRunner:
        """A ThreadRunner serving ``app`` in a background thread, stopped after the test."""
        running = RunningRunner(ThreadRunner(app)).start()
        self._runners.append(running)
        return running

    def stop_runner(self, running: RunningRunner) -> None:
        self._runners.remove(running)
        running.stop()

    # ------------------------------------------------------------------ capabilities

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            self._capabilities = self._declared_capabilities.resolve(self.app)
        return self._capabilities

    def require(self, capability: str) -> None:
        """Skip the test, naming the flag, unless the backend has ``capability``."""
        if not self.capabilities.has(capability):
            pytest.skip(
                f"needs capability '{capability}' (Capabilities.{capability} is False for "
                "this backend)"
            )

    def backdoor(self, method: str) -> Backdoor:
        """The back door, or skip the test when it does not provide ``method``."""
        if self._backdoor is None:
            pytest.skip(
                f"back-door check: no '{BACKDOOR_FIXTURE}' fixture provides Backdoor.{method}"
            )
        if not self._backdoor.implements(method):
            pytest.skip(f"back-door check: the backend's Backdoor does not implement {method}")
        return self._backdoor

    # ------------------------------------------------------------------ clean-up

    def close(self) -> None:
        """Stop the test's runners, then purge everything its apps stored."""
        runners, self._runners = self._runners, []
        for running in runners:
            running.stop()
        apps, self._apps = self._apps, []
        for app in apps:
            app.purge()


def wait_until(
    predicate: Callable[[], object], message: str, timeout: float = WAIT_SECONDS
) -> None:
    """Poll ``predicate`` until it is true; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout}s)")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` in ``count`` threads released together; return the results in order.

    An exception in any thread is re-raised here.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def contender(index: int) -> None:
        try:
            barrier.wait(WAIT_SECONDS)
            results[index] = action(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=contender, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    return cast("list[T]", results)


def _optional_fixture(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return None


class ConformanceTests:
    """Base of every contract test class: the fixtures they share.

    The backend provides ``pynenc_conformance_config`` (and optionally ``pynenc_capabilities``
    and ``pynenc_backdoor``) as ordinary fixtures, in its test module or a conftest.
    """

    contract: ClassVar[str] = ""
    """The contract's name in reports ("orchestrator", "broker", ...)."""

    @pytest.fixture
    def harness(
        self, request: pytest.FixtureRequest, pynenc_conformance_config: Any
    ) -> Iterator[ConformanceHarness]:
        harness = ConformanceHarness(
            ConformanceConfig.of(pynenc_conformance_config),
            _optional_fixture(request, CAPABILITIES_FIXTURE),
            _optional_fixture(request, BACKDOOR_FIXTURE),
        )
        try:
            yield harness
        finally:
            harness.close()

    @pytest.fixture
    def app(self, harness: ConformanceHarness) -> Pynenc:
        """An isolated app with the real clock."""
        return harness.app

    @pytest.fixture
    def fake_clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def clocked_app(self, harness: ConformanceHarness, fake_clock: FakeClock) -> Pynenc:
        """An isolated app whose time only moves when the test advances ``fake_clock``."""
        return harness.new_app(clock=fake_clock)
