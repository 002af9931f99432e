"""The app-wide configuration: which components to use, logging, global services, recovery."""

from __future__ import annotations

import logging
import re
from enum import StrEnum, auto
from typing import Any

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    Parser,
    bounded,
    enum_parser,
    non_empty_str,
    one_of,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_bool,
    parse_str,
    parse_str_set,
)


class ArgumentPrintMode(StrEnum):
    """How task arguments appear in log lines.

    FULL shows every value; KEYS only argument names; TRUNCATED values cut to
    ``truncate_arguments_length``; HIDDEN nothing at all.
    """

    FULL = auto()
    KEYS = auto()
    TRUNCATED = auto()
    HIDDEN = auto()


class LogFormat(StrEnum):
    """Log output format.

    TEXT is for people (optional colours, a runner/invocation context prefix); JSON emits one
    object per line with severity, timestamp, logger, message and context, for log aggregators.
    """

    TEXT = auto()
    JSON = auto()


def _to_logging_level(raw: Any) -> str:
    name = parse_str(raw).strip()
    if name.upper() not in logging.getLevelNamesMapping():
        raise ValueError(f"{raw!r} is not a logging level")
    return name.lower()


parse_logging_level: Parser[str] = Parser(
    _to_logging_level, "a logging level name (debug, info, warning, error, critical)"
)

_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#-]+$")


def _to_cron(raw: Any) -> str:
    """Shape check only (5 or 6 fields, or a macro); the scheduler validates the values."""
    expression = parse_str(raw).strip()
    if expression.lower() in _CRON_MACROS:
        return expression
    fields = expression.split()
    if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(field) for field in fields):
        raise ValueError(f"{raw!r} is not a cron expression")
    return " ".join(fields)


parse_cron: Parser[str] = Parser(
    _to_cron, "a cron expression of 5 fields (minute hour day month weekday), e.g. '*/5 * * * *'"
)

_non_negative_float = bounded(parse_float, ge=0)
_positive_float = bounded(parse_float, gt=0)


class ConfigPynenc(ConfigPynencBase):
    """Main configuration of a Pynenc app, read from top-level keys (section ``""``)."""

    app_id = ConfigField(
        "pynenc",
        parser=non_empty_str,
        doc="Name of the app; every key a backend stores is namespaced by it.",
    )

    orchestrator_cls = ConfigField(
        "SQLiteOrchestrator",
        parser=non_empty_str,
        doc="Orchestrator class: registered name or 'module:Class'. The SQLite default (like "
        "the other SQLite* defaults) keeps its data in sqlite_db_path, by default "
        "$XDG_DATA_HOME/pynenc/<app_id>.db (~/.local/share/pynenc/<app_id>.db); the Mem* "
        "classes keep it in one process's memory.",
    )
    trigger_cls = ConfigField(
        "SQLiteTrigger",
        parser=non_empty_str,
        doc="Trigger class: registered name or 'module:Class'.",
    )
    broker_cls = ConfigField(
        "SQLiteBroker",
        parser=non_empty_str,
        doc="Broker class: registered name or 'module:Class'.",
    )
    state_backend_cls = ConfigField(
        "SQLiteStateBackend",
        parser=non_empty_str,
        doc="State backend class: registered name or 'module:Class'.",
    )
    serializer_cls = ConfigField(
        "JsonSerializer",
        parser=non_empty_str,
        doc="Serializer class: registered name or 'module:Class'.",
    )
    client_data_store_cls = ConfigField(
        "SQLiteClientDataStore",
        parser=non_empty_str,
        doc="Client data store class: registered name or 'module:Class'.",
    )
    runner_cls = ConfigField(
        "ThreadRunner", parser=non_empty_str, doc="Runner class: registered name or 'module:Class'."
    )

    trigger_task_modules = ConfigField(
        frozenset[str](),
        parser=parse_str_set,
        doc="Modules runners import at start so tasks with trigger conditions (cron, events, "
        "statuses) are registered; triggered tasks in other modules never fire.",
    )

    dev_mode_force_sync_tasks = ConfigField(
        False,
        parser=parse_bool,
        doc="Run every call inline in the caller, without broker or runner; for development.",
    )
    logging_level = ConfigField(
        "info",
        parser=parse_logging_level,
        doc="Level of the app's logger, pynenc.app.<app_id> (debug, info, ...). info shows runner "
        "start and stop; per-invocation events (claimed, running, succeeded, retried) are debug.",
    )
    print_arguments = ConfigField(
        False,
        parser=parse_bool,
        doc="Master switch for task arguments in log lines. False (the default, since arguments "
        "may hold secrets) never shows them, whatever argument_print_mode says: lines show "
        "'task(...)'. True shows them as argument_print_mode says.",
    )
    truncate_arguments_length = ConfigField(
        32,
        parser=bounded(parse_int, ge=0),
        doc="Characters of each argument's repr kept in TRUNCATED mode (then '...'); 0 keeps "
        "them whole.",
    )
    argument_print_mode = ConfigField(
        ArgumentPrintMode.TRUNCATED,
        parser=enum_parser(ArgumentPrintMode),
        doc="How arguments look when print_arguments is true: full (name=repr), keys (names "
        "only), truncated (name=repr cut to truncate_arguments_length) or hidden (never shown).",
    )
    cached_status_time = ConfigField(
        0.1,
        parser=_non_negative_float,
        doc="Seconds a non-final invocation status read is reused before asking the "
        "orchestrator again; final statuses never change, so they are cached for good.",
    )
    compact_log_context = ConfigField(
        True,
        parser=parse_bool,
        doc="Shorten the TEXT context prefix: ids to 7 characters and runner class names to "
        "their capitals ([TR(ThreadRunner-8a2b1c3)] [inv:4f3a2b1 mymod.add]); false prints "
        "full ids and names. JSON fields always hold full ids.",
    )
    log_use_colors = ConfigField[bool | None](
        None,
        parser=parse_optional_bool,
        doc="ANSI colours in TEXT logs: true forces them, false disables them, unset (auto) "
        "enables them only when the stream is a terminal, NO_COLOR is not set and TERM is not "
        "dumb; FORCE_COLOR turns them on in auto mode (NO_COLOR wins over it, as in CPython).",
    )
    log_stream = ConfigField(
        "stderr",
        parser=one_of("stderr", "stdout"),
        doc="Stream of the log handler; use stdout in containers whose collectors treat all "
        "stderr output as errors.",
    )
    log_format = ConfigField(
        LogFormat.TEXT,
        parser=enum_parser(LogFormat),
        doc="text for people; json for log aggregators: one object per line with severity, "
        "timestamp (ISO 8601 UTC), logger, message, runner_cls, runner_id, pid, hostname, "
        "invocation_id and task_id (when in a runner / invocation), exception (when there is "
        "one) and text (the TEXT line without colours).",
    )

    atomic_service_interval_minutes = ConfigField(
        5.0,
        parser=_positive_float,
        doc="Length of the cycle shared out among live runners: each gets one slot in which "
        "only it runs the global services (triggers, recovery).",
    )
    atomic_service_spread_margin_minutes = ConfigField(
        1.0,
        parser=_non_negative_float,
        doc="Safety gap cut from each runner's slot so services of two runners never overlap.",
    )
    atomic_service_check_interval_minutes = ConfigField(
        0.5,
        parser=_positive_float,
        doc="How often a runner checks whether its slot has come; keep it well below the interval.",
    )
    atomic_service_execution_retention_minutes = ConfigField(
        60.0,
        parser=_non_negative_float,
        doc="Age after which recorded service executions are purged; 0 keeps them (still capped "
        "by atomic_service_execution_max_records).",
    )
    atomic_service_execution_max_records = ConfigField(
        1000,
        parser=bounded(parse_int, ge=0),
        doc="Most recent service executions kept across runners; 0 disables the cap.",
    )
    atomic_service_max_start_slot_fraction = ConfigField(
        0.5,
        parser=bounded(parse_float, gt=0, le=1),
        doc="Share of its slot a runner may have lost before starting a run; later starts are "
        "aborted as late. 1.0 disables the check.",
    )
    atomic_service_membership_stabilization_minutes = ConfigField(
        0.0,
        parser=_non_negative_float,
        doc="Grace period in which a newly seen runner holds a slot but may not run services; "
        "0 disables it.",
    )
    atomic_service_min_run_margin_seconds = ConfigField(
        0.05,
        parser=_non_negative_float,
        doc="Seconds that must remain in the slot when a run starts, else it is abandoned rather "
        "than overrun the next runner's slot; 0 disables the check.",
    )

    recover_pending_invocations_cron = ConfigField(
        "* * * * *",
        parser=parse_cron,
        doc="When the recovery of invocations stuck in PENDING runs (it runs inside a "
        "runner's atomic-service slot, so at most once per slot).",
    )
    max_pending_seconds = ConfigField(
        5.0,
        parser=_positive_float,
        doc="Seconds an invocation may stay PENDING before recovery returns it to the queue.",
    )
    recover_running_invocations_cron = ConfigField(
        "* * * * *",
        parser=parse_cron,
        doc="When the recovery of invocations owned by dead runners runs (inside a runner's "
        "atomic-service slot, so at most once per slot).",
    )
    runner_considered_dead_after_minutes = ConfigField(
        2.0,
        parser=_positive_float,
        doc="Heartbeat silence after which a runner is dead: its RUNNING invocations are "
        "recovered and it leaves the atomic-service schedule.",
    )
