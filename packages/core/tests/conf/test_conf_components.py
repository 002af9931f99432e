"""Specification of the core config classes: their defaults and their validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pynenc.conf import (
    ArgumentPrintMode,
    ConfigBroker,
    ConfigClientDataStore,
    ConfigOrchestrator,
    ConfigPynenc,
    ConfigPynencBase,
    ConfigRunner,
    ConfigSources,
    ConfigStateBackend,
    ConfigThreadRunner,
    ConfigTrigger,
    LogFormat,
)
from pynenc.exceptions import ConfigValueError

PYNENC_DEFAULTS: dict[str, Any] = {
    "app_id": "pynenc",
    "orchestrator_cls": "SQLiteOrchestrator",
    "trigger_cls": "SQLiteTrigger",
    "broker_cls": "SQLiteBroker",
    "state_backend_cls": "SQLiteStateBackend",
    "serializer_cls": "JsonSerializer",
    "client_data_store_cls": "SQLiteClientDataStore",
    "runner_cls": "ThreadRunner",
    "trigger_task_modules": frozenset(),
    "dev_mode_force_sync_tasks": False,
    "logging_level": "info",
    "print_arguments": False,
    "truncate_arguments_length": 32,
    "argument_print_mode": ArgumentPrintMode.TRUNCATED,
    "cached_status_time": 0.1,
    "compact_log_context": True,
    "log_use_colors": None,
    "log_stream": "stderr",
    "log_format": LogFormat.TEXT,
    "atomic_service_interval_minutes": 5.0,
    "atomic_service_spread_margin_minutes": 1.0,
    "atomic_service_check_interval_minutes": 0.5,
    "atomic_service_execution_retention_minutes": 60.0,
    "atomic_service_execution_max_records": 1000,
    "atomic_service_max_start_slot_fraction": 0.5,
    "atomic_service_membership_stabilization_minutes": 0.0,
    "atomic_service_min_run_margin_seconds": 0.05,
    "recover_pending_invocations_cron": "* * * * *",
    "max_pending_seconds": 5.0,
    "recover_running_invocations_cron": "* * * * *",
    "runner_considered_dead_after_minutes": 2.0,
}

COMPONENT_DEFAULTS: list[tuple[type[ConfigPynencBase], dict[str, Any]]] = [
    (
        ConfigOrchestrator,
        {
            "cycle_control": True,
            "blocking_control": True,
            "auto_final_invocation_purge_hours": 24.0,
            "concurrency_control_retry_seconds": 0.1,
            "status_cache_size": 1024,
            "wait_poll_max_seconds": 0.02,
        },
    ),
    (ConfigBroker, {"broker_retrieve_timeout_seconds": 1.0, "broker_lease_seconds": 30.0}),
    (ConfigStateBackend, {"runner_context_cache_size": 1024, "invocation_cache_size": 4096}),
    (
        ConfigTrigger,
        {
            "event_retention_hours": 24.0,
            "event_max_records": 10000,
            "trigger_run_retention_hours": 24.0,
            "trigger_run_max_records": 10000,
            "trigger_loop_interval_seconds": 0.5,
            "trigger_run_claim_timeout_seconds": 60.0,
            "trigger_index_refresh_seconds": 5.0,
            "trigger_batch_size": 500,
        },
    ),
    (
        ConfigClientDataStore,
        {"min_size_to_cache": 1024, "local_cache_size": 1024, "disable_client_data_store": False},
    ),
    (
        ConfigRunner,
        {
            "runner_heartbeat_interval_seconds": 5.0,
            "graceful_shutdown_timeout_seconds": 10.0,
            "runner_poll_timeout_seconds": 0.25,
        },
    ),
]


def empty() -> ConfigSources:
    return ConfigSources.from_values()


def pynenc(**config_values: Any) -> ConfigPynenc:
    return ConfigPynenc(sources=ConfigSources.from_values(config_values))


def test_config_pynenc_defaults() -> None:
    assert ConfigPynenc(sources=empty()).to_dict() == PYNENC_DEFAULTS


def test_every_config_pynenc_field_is_documented() -> None:
    assert all(field.doc for field in ConfigPynenc.config_fields().values())


@pytest.mark.parametrize(("config_cls", "defaults"), COMPONENT_DEFAULTS)
def test_component_config_defaults(
    config_cls: type[ConfigPynencBase], defaults: dict[str, Any]
) -> None:
    assert config_cls(sources=empty()).to_dict() == defaults
    assert all(field.doc for field in config_cls.config_fields().values())


def test_thread_runner_has_the_runner_fields_and_max_threads() -> None:
    config = ConfigThreadRunner(sources=empty())
    assert set(config.config_fields()) == set(COMPONENT_DEFAULTS[-1][1]) | {"max_threads"}
    assert config.max_threads == 0


def test_thread_runner_reads_the_runner_section() -> None:
    sources = ConfigSources.from_values(
        {"runner": {"runner_heartbeat_interval_seconds": 2}, "thread_runner": {"max_threads": 3}}
    )
    config = ConfigThreadRunner(sources=sources)
    assert (config.runner_heartbeat_interval_seconds, config.max_threads) == (2.0, 3)


def test_effective_max_threads_defaults_to_four_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    assert ConfigThreadRunner(sources=empty()).effective_max_threads() == 12


def test_effective_max_threads_uses_an_explicit_value() -> None:
    config = ConfigThreadRunner(sources=ConfigSources.from_values({"max_threads": 5}))
    assert config.effective_max_threads() == 5


@pytest.mark.parametrize(
    ("raw", "expected"), [("DEBUG", "debug"), ("Warning", "warning"), ("error", "error")]
)
def test_logging_level_accepts_level_names_case_insensitively(raw: str, expected: str) -> None:
    assert pynenc(logging_level=raw).logging_level == expected


def test_logging_level_refuses_unknown_names() -> None:
    with pytest.raises(ConfigValueError, match="logging level"):
        pynenc(logging_level="verbose")


def test_log_stream_is_stderr_or_stdout() -> None:
    assert pynenc(log_stream="STDOUT").log_stream == "stdout"
    with pytest.raises(ConfigValueError, match="'stderr', 'stdout'"):
        pynenc(log_stream="stdlog")


@pytest.mark.parametrize(("raw", "expected"), [("auto", None), ("true", True), (False, False)])
def test_log_use_colors_is_forced_or_auto_detected(raw: Any, expected: bool | None) -> None:
    assert pynenc(log_use_colors=raw).log_use_colors is expected


def test_enums_are_read_from_their_names() -> None:
    config = pynenc(argument_print_mode="keys", log_format="JSON")
    assert (config.argument_print_mode, config.log_format) == (
        ArgumentPrintMode.KEYS,
        LogFormat.JSON,
    )


def test_trigger_task_modules_reads_a_comma_separated_env_value(project: Path) -> None:
    environ = {"PYNENC__TRIGGER_TASK_MODULES": "app.cron, app.events"}
    sources = ConfigSources.load(cwd=project, environ=environ)
    assert ConfigPynenc(sources=sources).trigger_task_modules == {"app.cron", "app.events"}


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_max_start_slot_fraction_must_be_in_zero_one(fraction: float) -> None:
    with pytest.raises(ConfigValueError, match="> 0 and <= 1"):
        pynenc(atomic_service_max_start_slot_fraction=fraction)


def test_max_start_slot_fraction_of_one_is_accepted() -> None:
    assert (
        pynenc(atomic_service_max_start_slot_fraction=1).atomic_service_max_start_slot_fraction
        == 1.0
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("truncate_arguments_length", -1),
        ("cached_status_time", -0.5),
        ("atomic_service_interval_minutes", 0),
        ("max_pending_seconds", 0),
        ("runner_considered_dead_after_minutes", -1),
        ("app_id", ""),
        ("broker_cls", "  "),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigValueError, match=field):
        pynenc(**{field: value})


@pytest.mark.parametrize("cron", ["0 * * * *", "*/2 1-5 * jan mon-fri", "@hourly", "0 0 * * * 30"])
def test_cron_fields_accept_cron_expressions(cron: str) -> None:
    assert pynenc(recover_pending_invocations_cron=cron).recover_pending_invocations_cron == cron


@pytest.mark.parametrize("cron", ["every minute", "* * *", "", "@sometimes"])
def test_cron_fields_refuse_what_is_not_shaped_like_cron(cron: str) -> None:
    with pytest.raises(ConfigValueError, match="cron"):
        pynenc(recover_running_invocations_cron=cron)
