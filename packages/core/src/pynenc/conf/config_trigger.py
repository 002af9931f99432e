"""Configuration shared by every trigger component."""

from __future__ import annotations

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    bounded,
    parse_float,
    parse_int,
)
from pynenc.conf.config_sqlite import ConfigSQLite


class ConfigTrigger(ConfigPynencBase):
    """Trigger settings (section ``trigger``): how long event and run records are kept."""

    section = "trigger"

    event_retention_hours = ConfigField(
        24.0,
        parser=bounded(parse_float, ge=0),
        doc="Age after which stored events are purged; 0 keeps them (still capped by "
        "event_max_records).",
    )
    event_max_records = ConfigField(
        10000,
        parser=bounded(parse_int, ge=0),
        doc="Most recent events kept; 0 disables the cap.",
    )
    trigger_run_retention_hours = ConfigField(
        24.0,
        parser=bounded(parse_float, ge=0),
        doc="Age after which records of trigger runs are purged; 0 keeps them (still capped by "
        "trigger_run_max_records).",
    )
    trigger_run_max_records = ConfigField(
        10000,
        parser=bounded(parse_int, ge=0),
        doc="Most recent trigger run records kept; 0 disables the cap.",
    )
    trigger_loop_interval_seconds = ConfigField(
        0.5,
        parser=bounded(parse_float, gt=0),
        doc="Seconds between passes of the trigger loop while it holds this runner's "
        "atomic-service slot (cron ticks are checked and satisfied conditions evaluated at each "
        "pass); the main part of trigger latency while a slot is held.",
    )
    trigger_run_claim_timeout_seconds = ConfigField(
        60.0,
        parser=bounded(parse_float, gt=0),
        doc="A trigger run claimed this long ago that still created no invocation (its runner "
        "died, or its registration failed, between the claim and the registration) is claimed "
        "again and fired by the next pass: a firing is never lost. Keep it well above the "
        "time one registration can take.",
    )
    trigger_index_refresh_seconds = ConfigField(
        5.0,
        parser=bounded(parse_float, gt=0),
        doc="How often a process re-reads which tasks and event codes triggers listen to; a "
        "trigger registered by another process is noticed within this time.",
    )
    trigger_batch_size = ConfigField(
        500,
        parser=bounded(parse_int, gt=0),
        doc="Satisfied conditions the trigger loop reads per pass.",
    )


class ConfigTriggerSQLite(ConfigTrigger, ConfigSQLite):
    """Settings of SQLiteTrigger: the shared ones plus the ``sqlite`` section."""
