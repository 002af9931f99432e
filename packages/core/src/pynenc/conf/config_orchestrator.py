"""Configuration shared by every orchestrator."""

from __future__ import annotations

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    bounded,
    parse_bool,
    parse_float,
    parse_int,
)
from pynenc.conf.config_sqlite import ConfigSQLite


class ConfigOrchestrator(ConfigPynencBase):
    """Orchestrator settings (section ``orchestrator``); backend configs inherit from it."""

    section = "orchestrator"

    cycle_control = ConfigField(
        True,
        parser=parse_bool,
        doc="Refuse a call that would close a cycle of invocations waiting on each other "
        "(task1 -> task2 -> task1), which would otherwise deadlock.",
    )
    blocking_control = ConfigField(
        True,
        parser=parse_bool,
        doc="Let an invocation waiting on another give its runner slot away until the awaited "
        "one finishes, and prefer invocations others wait on over new ones.",
    )
    auto_final_invocation_purge_hours = ConfigField(
        24.0,
        parser=bounded(parse_float, gt=0),
        doc="Hours after which the orchestrator forgets invocations in a final status, keeping "
        "it small and fast; the state backend keeps their history and results.",
    )
    concurrency_control_retry_seconds = ConfigField(
        0.1,
        parser=bounded(parse_float, ge=0),
        doc="Delay before an invocation held back by running concurrency control is offered "
        "to runners again.",
    )
    status_cache_size = ConfigField(
        1024,
        parser=bounded(parse_int, gt=0),
        doc="Invocation statuses kept in each process's bounded caches (final statuses in an "
        "LRU, others for cached_status_time seconds).",
    )
    wait_poll_max_seconds = ConfigField(
        0.02,
        parser=bounded(parse_float, gt=0),
        doc="Cap of the growing poll interval of result waiters on backends that cannot "
        "notify; backends with notifications do not poll.",
    )


class ConfigOrchestratorSQLite(ConfigOrchestrator, ConfigSQLite):
    """Settings of SQLiteOrchestrator: the shared ones plus the ``sqlite`` section."""
