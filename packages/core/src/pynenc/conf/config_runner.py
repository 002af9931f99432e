"""Configuration shared by every runner, and of the thread runner."""

from __future__ import annotations

import os

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    bounded,
    parse_float,
    parse_int,
)


class ConfigRunner(ConfigPynencBase):
    """Runner settings (section ``runner``); each runner's config inherits from it."""

    section = "runner"

    runner_heartbeat_interval_seconds = ConfigField(
        5.0,
        parser=bounded(parse_float, gt=0),
        doc="Seconds between heartbeats; keep it well below runner_considered_dead_after_minutes.",
    )
    graceful_shutdown_timeout_seconds = ConfigField(
        10.0,
        parser=bounded(parse_float, ge=0),
        doc="On SIGTERM/SIGINT, seconds in-flight invocations may take to finish before they are "
        "KILLED and rerouted to another runner.",
    )
    runner_poll_timeout_seconds = ConfigField(
        0.25,
        parser=bounded(parse_float, gt=0),
        doc="Longest a runner blocks waiting for new work in one call to the broker; it "
        "bounds how long a stop request waits, not how fast new work is picked up.",
    )


class ConfigThreadRunner(ConfigRunner):
    """Thread runner settings (section ``thread_runner``; ``runner`` keys apply too)."""

    section = "thread_runner"

    max_threads = ConfigField(
        0,
        parser=bounded(parse_int, ge=0),
        doc="Invocations run at once, one thread each; 0 means os.cpu_count() * 4.",
    )

    def effective_max_threads(self) -> int:
        """The thread count to use, resolving 0 from the machine's CPU count."""
        return self.max_threads or (os.cpu_count() or 1) * 4


def _cpu_count() -> int:
    return os.cpu_count() or 1


class ConfigProcessPoolRunner(ConfigRunner):
    """Settings shared by runners that keep a pool of long-lived child processes."""

    section = "process_pool_runner"

    num_processes = ConfigField(
        0,
        parser=bounded(parse_int, ge=0),
        doc="Child processes to keep running; 0 means one per CPU.",
    )
    child_stop_timeout_seconds = ConfigField(
        5.0,
        parser=bounded(parse_float, ge=0),
        doc="Extra seconds, beyond graceful_shutdown_timeout_seconds, a child may take to stop "
        "on SIGTERM before it is killed (its work is then rerouted by the parent).",
    )

    def effective_num_processes(self) -> int:
        return self.num_processes or _cpu_count()


class ConfigMultiThreadRunner(ConfigProcessPoolRunner, ConfigThreadRunner):
    """MultiThreadRunner: ``num_processes`` children, each running ``max_threads`` threads."""

    section = "multi_thread_runner"


class ConfigPersistentProcessRunner(ConfigProcessPoolRunner):
    """PersistentProcessRunner: ``num_processes`` children, one invocation at a time each."""

    section = "persistent_process_runner"


class ConfigProcessRunner(ConfigRunner):
    """ProcessRunner: a new process per invocation, at most ``max_processes`` at once."""

    section = "process_runner"

    max_processes = ConfigField(
        0,
        parser=bounded(parse_int, ge=0),
        doc="Invocations running at once, one process each; 0 means one per CPU.",
    )

    def effective_max_processes(self) -> int:
        return self.max_processes or _cpu_count()
