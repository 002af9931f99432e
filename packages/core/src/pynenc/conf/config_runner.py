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
