"""Specification of ConfigTask: option precedence, per-task overrides and validation."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from pynenc.conf import ConcurrencyControlType, ConfigSources, ConfigTask
from pynenc.exceptions import ConfigValueError, InvalidTaskOptionsError, RetryError

LoadSources = Callable[..., ConfigSources]
TASK = "mymodule.add"


def test_task_defaults(load: LoadSources) -> None:
    assert ConfigTask(TASK, sources=load()).to_dict() == {
        "max_retries": 0,
        "retry_for": (RetryError,),
        "running_concurrency": ConcurrencyControlType.DISABLED,
        "registration_concurrency": ConcurrencyControlType.DISABLED,
        "key_arguments": (),
        "on_diff_non_key_args_raise": False,
        "reroute_on_concurrency_control": True,
        "parallel_batch_size": 100,
        "queue": "default",
        "priority": 0,
        "retry_backoff_base_seconds": 1.0,
        "retry_backoff_factor": 2.0,
        "retry_backoff_max_seconds": 300.0,
        "retry_jitter": True,
    }


def test_task_section_sets_defaults_for_every_task(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text("[tool.pynenc.task]\nmax_retries = 3\n")
    assert ConfigTask(TASK, sources=load()).max_retries == 3
    assert ConfigTask("other.task", sources=load()).max_retries == 3


def test_generic_top_level_key_sets_a_task_default(load: LoadSources) -> None:
    assert ConfigTask(TASK, sources=load({"max_retries": 4})).max_retries == 4


def test_task_section_beats_generic_key(load: LoadSources) -> None:
    sources = load({"max_retries": 4, "task": {"max_retries": 5}})
    assert ConfigTask(TASK, sources=sources).max_retries == 5


def test_decorator_option_beats_task_defaults_of_every_layer(
    project: Path, load: LoadSources
) -> None:
    (project / "pyproject.toml").write_text("[tool.pynenc.task]\nmax_retries = 3\n")
    environ = {"PYNENC__MAX_RETRIES": "4", "PYNENC__CONFIGTASK__MAX_RETRIES": "5"}
    sources = load({"task": {"max_retries": 6}}, environ=environ)
    config = ConfigTask(TASK, {"max_retries": 1}, sources=sources)
    assert config.max_retries == 1
    assert config.source_of("max_retries").kind == "decorator"


def test_per_task_env_override_beats_the_decorator(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__MYMODULE__ADD__MAX_RETRIES": "5"})
    config = ConfigTask(TASK, {"max_retries": 1}, sources=sources)
    assert config.max_retries == 5
    assert (
        str(config.source_of("max_retries")) == "env PYNENC__CONFIGTASK__MYMODULE__ADD__MAX_RETRIES"
    )


def test_per_task_env_override_applies_only_to_its_task(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__MYMODULE__ADD__MAX_RETRIES": "5"})
    assert ConfigTask("mymodule.sub", sources=sources).max_retries == 0


def test_per_task_override_matches_the_task_id_case_insensitively(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__MYMODULE__ADD__QUEUE": "slow"})
    assert ConfigTask("MyModule.Add", sources=sources).queue == "slow"


def test_per_task_file_override_uses_the_quoted_task_id(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text('[tool.pynenc.task."mymodule.add"]\nmax_retries = 7\n')
    config = ConfigTask(TASK, {"max_retries": 1}, sources=load())
    assert config.max_retries == 7
    assert str(config.source_of("max_retries")).endswith('[tool.pynenc.task."mymodule.add"]')


def test_per_task_file_override_also_reads_nested_tables(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text("[tool.pynenc.task.mymodule.add]\npriority = 9\n")
    assert ConfigTask(TASK, sources=load()).priority == 9


def test_per_task_override_of_a_lower_layer_beats_generic_keys_of_higher_layers(
    project: Path, load: LoadSources
) -> None:
    (project / "pyproject.toml").write_text('[tool.pynenc.task."mymodule.add"]\nmax_retries = 7\n')
    sources = load({"task": {"max_retries": 2}}, environ={"PYNENC__CONFIGTASK__MAX_RETRIES": "3"})
    assert ConfigTask(TASK, sources=sources).max_retries == 7


def test_per_task_overrides_follow_layer_precedence(project: Path, load: LoadSources) -> None:
    (project / "pyproject.toml").write_text('[tool.pynenc.task."mymodule.add"]\nmax_retries = 7\n')
    sources = load(environ={"PYNENC__CONFIGTASK__MYMODULE__ADD__MAX_RETRIES": "8"})
    assert ConfigTask(TASK, sources=sources).max_retries == 8


def test_per_task_override_in_config_values(load: LoadSources) -> None:
    sources = load({"task": {TASK: {"retry_jitter": False}}})
    assert ConfigTask(TASK, {"retry_jitter": True}, sources=sources).retry_jitter is False


def test_unknown_decorator_option_lists_the_valid_ones(load: LoadSources) -> None:
    with pytest.raises(InvalidTaskOptionsError, match="max_retires") as error:
        ConfigTask(TASK, {"max_retires": 3}, sources=load())
    assert error.value.task_id == TASK
    assert "max_retries" in str(error.value)
    assert "retry_jitter" in str(error.value)


def test_wrong_decorator_value_is_a_task_options_error(load: LoadSources) -> None:
    with pytest.raises(InvalidTaskOptionsError, match="max_retries"):
        ConfigTask(TASK, {"max_retries": "many"}, sources=load())


def test_wrong_env_value_is_a_config_value_error(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__MYMODULE__ADD__PARALLEL_BATCH_SIZE": "0"})
    with pytest.raises(ConfigValueError, match="parallel_batch_size"):
        ConfigTask(TASK, sources=sources)


@pytest.mark.parametrize("option", ["running_concurrency", "registration_concurrency"])
def test_keys_concurrency_without_key_arguments_is_refused(load: LoadSources, option: str) -> None:
    with pytest.raises(InvalidTaskOptionsError, match=f"{option}.*key_arguments"):
        ConfigTask(TASK, {option: ConcurrencyControlType.KEYS}, sources=load())


def test_keys_concurrency_from_config_without_key_arguments_is_refused(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__RUNNING_CONCURRENCY": "keys"})
    with pytest.raises(InvalidTaskOptionsError, match="key_arguments"):
        ConfigTask(TASK, sources=sources)


def test_keys_concurrency_with_key_arguments_is_accepted(load: LoadSources) -> None:
    config = ConfigTask(
        TASK, {"registration_concurrency": "keys", "key_arguments": ["user_id"]}, sources=load()
    )
    assert config.registration_concurrency is ConcurrencyControlType.KEYS
    assert config.key_arguments == ("user_id",)


def test_retry_for_is_read_from_env_names(load: LoadSources) -> None:
    sources = load(environ={"PYNENC__CONFIGTASK__RETRY_FOR": "ConnectionError,TimeoutError"})
    assert ConfigTask(TASK, sources=sources).retry_for == (ConnectionError, TimeoutError)


def test_task_options_keep_what_the_decorator_gave(load: LoadSources) -> None:
    config = ConfigTask(TASK, {"retry_for": [KeyError]}, sources=load())
    assert config.task_options == {"retry_for": [KeyError]}
    assert config.retry_for == (KeyError,)


def test_with_overrides_keeps_the_task_and_checks_option_names(load: LoadSources) -> None:
    config = ConfigTask(TASK, sources=load()).with_overrides(priority=3)
    assert (config.task_id, config.priority) == (TASK, 3)
    with pytest.raises(InvalidTaskOptionsError):
        config.with_overrides(priorty=3)


def test_with_overrides_checks_cross_field_rules(load: LoadSources) -> None:
    with pytest.raises(InvalidTaskOptionsError):
        ConfigTask(TASK, sources=load()).with_overrides(running_concurrency="keys")


def no_jitter(load: LoadSources, **options: object) -> ConfigTask:
    return ConfigTask(TASK, {"retry_jitter": False, **options}, sources=load())


def test_retry_delay_without_jitter_grows_geometrically(load: LoadSources) -> None:
    config = no_jitter(load, retry_backoff_base_seconds=0.5, retry_backoff_factor=3)
    assert [config.retry_delay_seconds(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_retry_delay_is_capped(load: LoadSources) -> None:
    config = no_jitter(load, retry_backoff_max_seconds=10)
    assert config.retry_delay_seconds(5) == 10.0
    assert config.retry_delay_seconds(100_000) == 10.0


def test_retry_delay_with_jitter_is_drawn_below_the_computed_delay(load: LoadSources) -> None:
    config = ConfigTask(TASK, {"retry_backoff_base_seconds": 2}, sources=load())
    assert config.retry_delay_seconds(2, uniform=lambda: 0.25) == 1.0
    assert config.retry_delay_seconds(2, uniform=lambda: 0.0) == 0.0
    assert math.isclose(config.retry_delay_seconds(1, uniform=lambda: 0.999), 1.998)


def test_retry_delay_counts_attempts_from_one(load: LoadSources) -> None:
    with pytest.raises(ValueError, match="from 1"):
        no_jitter(load).retry_delay_seconds(0)
