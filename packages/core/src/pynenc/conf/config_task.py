"""Options of one task: retries, concurrency control, batching, routing and retry backoff.

Where an option's value comes from, lowest precedence first:

1. the field default;
2. task defaults from every layer, by layer precedence (project file < config file < env <
   config_values): generic top-level keys (``max_retries = 3``), the ``task`` section
   (``[tool.pynenc.task]``) and ``PYNENC__CONFIGTASK__MAX_RETRIES`` / ``PYNENC__MAX_RETRIES``;
3. the options given in code to the task decorator (source kind ``decorator``);
4. per-task overrides from every layer, by layer precedence: ``[tool.pynenc.task."mymodule.add"]``
   (nested ``[tool.pynenc.task.mymodule.add]`` works too) and
   ``PYNENC__CONFIGTASK__MYMODULE__ADD__MAX_RETRIES`` (each '.' of the task id written as '__',
   matched case-insensitively).

So operators can tune one task without touching code, while app-wide defaults never override
what a developer wrote in the decorator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from enum import StrEnum, auto
from typing import Any

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    ConfigSource,
    ConfigSources,
    bounded,
    enum_parser,
    non_empty_str,
    parse_bool,
    parse_exception_types,
    parse_float,
    parse_int,
    parse_str_tuple,
)
from pynenc.exceptions import ConfigValueError, InvalidTaskOptionsError, RetryError


class ConcurrencyControlType(StrEnum):
    """How many invocations of a task may be registered or running at once.

    DISABLED: no limit. TASK: one per task. ARGUMENTS: one per task and full set of arguments.
    KEYS: one per task and values of the ``key_arguments``.
    """

    DISABLED = auto()
    TASK = auto()
    ARGUMENTS = auto()
    KEYS = auto()


_concurrency = enum_parser(ConcurrencyControlType)
_non_negative_float = bounded(parse_float, ge=0)


class ConfigTask(ConfigPynencBase):
    """The options of one task, resolved for its ``task_id`` (section ``task``)."""

    section = "task"

    max_retries = ConfigField(
        0,
        parser=bounded(parse_int, ge=0),
        doc="Times a failed invocation is retried when it raises one of retry_for.",
    )
    retry_for = ConfigField[tuple[type[Exception], ...]](
        (RetryError,),
        parser=parse_exception_types,
        doc="Exceptions that trigger a retry; raise RetryError in the task to ask for one.",
    )
    running_concurrency = ConfigField(
        ConcurrencyControlType.DISABLED,
        parser=_concurrency,
        doc="Limit on invocations running at once (disabled, task, arguments, keys).",
    )
    registration_concurrency = ConfigField(
        ConcurrencyControlType.DISABLED,
        parser=_concurrency,
        doc="Limit on invocations registered and not yet final; a call over the limit reuses "
        "the existing invocation.",
    )
    key_arguments = ConfigField(
        tuple[str, ...](),
        parser=parse_str_tuple,
        doc="Argument names identifying a call for the KEYS concurrency control.",
    )
    on_diff_non_key_args_raise = ConfigField(
        False,
        parser=parse_bool,
        doc="With KEYS registration control, raise when a call matches an existing invocation "
        "on the key arguments but differs in the others, instead of reusing it silently.",
    )
    reroute_on_concurrency_control = ConfigField(
        True,
        parser=parse_bool,
        doc="Put an invocation blocked by running concurrency back in the queue rather than "
        "failing it.",
    )
    parallel_batch_size = ConfigField(
        100,
        parser=bounded(parse_int, gt=0),
        doc="Calls sent to the backends per batch by parallelize().",
    )
    queue = ConfigField(
        "default",
        parser=non_empty_str,
        doc="Broker queue the task's invocations go to; runners choose which queues they serve.",
    )
    priority = ConfigField(
        0,
        parser=parse_int,
        doc="Within a queue, invocations with a higher priority run sooner; equal ones in order.",
    )
    retry_backoff_base_seconds = ConfigField(
        1.0, parser=_non_negative_float, doc="Delay before the first retry, before jitter."
    )
    retry_backoff_factor = ConfigField(
        2.0,
        parser=bounded(parse_float, ge=1),
        doc="Multiplier of the delay for each further retry: base * factor ** (attempt - 1).",
    )
    retry_backoff_max_seconds = ConfigField(
        300.0, parser=_non_negative_float, doc="Upper bound of the computed retry delay."
    )
    retry_jitter = ConfigField(
        True,
        parser=parse_bool,
        doc="Full jitter: draw each retry delay uniformly in [0, computed delay] so retries of "
        "many invocations spread out; false waits exactly the computed delay.",
    )

    def __init__(
        self,
        task_id: str,
        task_options: Mapping[str, Any] | None = None,
        config_values: Mapping[str, Any] | None = None,
        config_filepath: str | None = None,
        *,
        sources: ConfigSources | None = None,
    ) -> None:
        self.task_id = task_id
        options = dict(task_options or {})
        unknown = sorted(name for name in options if name not in self._config_fields)
        if unknown:
            raise self._unknown_fields_error(unknown)
        self._task_options = options
        super().__init__(config_values, config_filepath, sources=sources)

    @property
    def task_options(self) -> dict[str, Any]:
        """The options given in code to the task decorator, as given."""
        return dict(self._task_options)

    def _find_raw(self, sources: ConfigSources, name: str) -> tuple[Any, ConfigSource] | None:
        override = sources.lookup_task_override(self.task_id, name)
        if override is not None:
            return override
        if name in self._task_options:
            source = ConfigSource(
                "decorator", f"task decorator option {name!r} of '{self.task_id}'"
            )
            return self._task_options[name], source
        return super()._find_raw(sources, name)

    def _coerce(self, field: ConfigField[Any], raw: Any, source: ConfigSource) -> Any:
        """Report a bad decorator option as a task error: the fix is in the code, not the config."""
        try:
            return super()._coerce(field, raw, source)
        except ConfigValueError as exc:
            if source.kind == "decorator":
                raise InvalidTaskOptionsError(self.task_id, str(exc)) from exc
            raise

    def _validate(self) -> None:
        keyed = [
            name
            for name in ("running_concurrency", "registration_concurrency")
            if getattr(self, name) is ConcurrencyControlType.KEYS
        ]
        if keyed and not self.key_arguments:
            raise InvalidTaskOptionsError(
                self.task_id,
                f"Task '{self.task_id}' sets {' and '.join(keyed)} to KEYS but key_arguments is "
                "empty. Name the arguments that identify a call in key_arguments, or use "
                "ARGUMENTS to compare all of them.",
            )

    def _unknown_fields_error(self, names: list[str]) -> Exception:
        return InvalidTaskOptionsError(
            self.task_id,
            f"Unknown option(s) {', '.join(map(repr, names))} for task '{self.task_id}'. "
            f"Valid options: {', '.join([*self._config_fields, 'triggers'])}.",
        )

    def retry_delay_seconds(
        self, attempt: int, uniform: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry).

        ``base * factor ** (attempt - 1)`` capped at ``retry_backoff_max_seconds``; with
        ``retry_jitter`` it is scaled by ``uniform()`` (a number in [0, 1)).
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        try:
            delay = self.retry_backoff_base_seconds * self.retry_backoff_factor ** (attempt - 1)
        except OverflowError:
            delay = math.inf
        delay = min(delay, self.retry_backoff_max_seconds)
        return delay * uniform() if self.retry_jitter else delay
