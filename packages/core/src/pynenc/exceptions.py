"""Every error pynenc raises, in one place.

Each message says what went wrong and what to do about it. Catch :class:`PynencError` to handle
them all.
"""

from __future__ import annotations

from collections.abc import Iterable


class PynencError(Exception):
    """Base class of every pynenc error."""


# --- configuration and plugins -------------------------------------------------------------


class ConfigError(PynencError):
    """The configuration could not be read or holds an invalid value."""


class ConfigFileError(ConfigError):
    """A configuration file is missing, unreadable or does not parse."""


class ConfigValueError(ConfigError):
    """A configuration value cannot be converted to its field's type."""

    def __init__(
        self, field: str, value: object, source: str, expected: str, detail: str = ""
    ) -> None:
        self.field = field
        self.value = value
        self.source = source
        self.expected = expected
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Invalid value {value!r} for config field '{field}' from {source}: "
            f"expected {expected}{extra}. Fix the value in {source}."
        )


class PluginError(PynencError):
    """A component class could not be resolved or a plugin could not be loaded."""


class UnknownComponentError(PluginError):
    """A ``*_cls`` config field names a class nobody registered."""

    def __init__(
        self, field: str, name: str, known: Iterable[str], distribution: str | None = None
    ) -> None:
        self.field = field
        self.name = name
        self.known = sorted(known)
        hint = (
            f" '{name}' is provided by the '{distribution}' distribution: "
            f"pip install {distribution}."
            if distribution
            else " Use one of the known names, or an import path such as 'mypkg.module:MyClass'."
        )
        super().__init__(
            f"Unknown {field} '{name}'. Known: {', '.join(self.known) or '(none)'}.{hint}"
        )


class IncompatiblePluginError(PluginError):
    """A plugin implements a contract version this core does not support."""

    def __init__(self, plugin: str, plugin_version: str, core_version: str) -> None:
        self.plugin = plugin
        self.plugin_version = plugin_version
        self.core_version = core_version
        super().__init__(
            f"Plugin '{plugin}' implements pynenc contract version {plugin_version}, but this "
            f"pynenc-core implements contract version {core_version}. Install a release of "
            f"'{plugin}' built for contract {core_version}, or a pynenc-core matching "
            f"{plugin_version}."
        )


# --- tasks and calls -----------------------------------------------------------------------


class TaskError(PynencError):
    """Base class for errors about a task definition or a call to it."""

    def __init__(self, task_id: str, message: str) -> None:
        self.task_id = task_id
        super().__init__(message)


class InvalidTaskOptionsError(TaskError):
    """A task option has a wrong type or contradicts another option."""


class TaskDefinedInMainError(TaskError):
    """A task defined in ``__main__`` cannot be imported by a runner."""

    def __init__(self, task_id: str) -> None:
        super().__init__(
            task_id,
            f"Task '{task_id}' is defined in __main__, so a runner in another process cannot "
            "import it. Move the task into a module (for example tasks.py), import it from "
            "there, and start the runner with that module's app; or set "
            "dev_mode_force_sync_tasks=True to run calls inline while developing.",
        )


class InvalidCallArgumentsError(TaskError):
    """A task was called with arguments its signature does not accept."""


class TaskNotFoundError(TaskError):
    """A runner could not import the task an invocation refers to."""


class SerializationError(PynencError):
    """A value cannot be serialized or deserialized."""


class RetryError(PynencError):
    """Raise from inside a task to ask for a retry (subject to ``max_retries``)."""


# --- invocations and statuses --------------------------------------------------------------


class InvocationError(PynencError):
    """Base class for errors about one invocation."""

    def __init__(self, invocation_id: str, message: str) -> None:
        self.invocation_id = invocation_id
        super().__init__(message)


class InvocationNotFoundError(InvocationError):
    """No invocation with that id exists for this app."""

    def __init__(self, invocation_id: str, where: str = "state backend") -> None:
        super().__init__(
            invocation_id,
            f"Invocation '{invocation_id}' was not found in the {where}. Check the id (and the "
            "app id: invocations of another app are not visible), or whether it was purged.",
        )


class AmbiguousInvocationIdError(InvocationError):
    """An id prefix matches more than one invocation."""

    def __init__(self, prefix: str, candidates: Iterable[str], more: bool = False) -> None:
        self.candidates = sorted(candidates)
        count = f"more than {len(self.candidates)}" if more else str(len(self.candidates))
        super().__init__(
            prefix,
            f"The id prefix '{prefix}' matches {count} invocations: "
            f"{', '.join(self.candidates)}. Give more characters of the id.",
        )


class InvocationStatusError(InvocationError):
    """A status change was refused."""


class InvalidStatusTransitionError(InvocationStatusError):
    """The status table does not allow this move."""

    def __init__(self, invocation_id: str, from_status: str | None, to_status: str) -> None:
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(
            invocation_id,
            f"Invocation '{invocation_id}' cannot move from {from_status} to {to_status}: the "
            "status table does not allow it (see `pynenc status render`).",
        )


class InvocationOwnershipError(InvocationStatusError):
    """A runner tried to move an invocation another runner owns."""

    def __init__(
        self, invocation_id: str, status: str, owner_id: str | None, runner_id: str, to_status: str
    ) -> None:
        self.status = status
        self.owner_id = owner_id
        self.runner_id = runner_id
        self.to_status = to_status
        super().__init__(
            invocation_id,
            f"Runner '{runner_id}' cannot move invocation '{invocation_id}' from {status} to "
            f"{to_status}: it is owned by runner '{owner_id}'. Only the owner may leave an owned "
            "status (recovery excepted); this usually means the runner lost ownership after a "
            "kill or recovery, and its late write is discarded.",
        )


class InvocationStatusNotFoundError(InvocationStatusError):
    """The orchestrator holds no status for the invocation."""

    def __init__(self, invocation_id: str) -> None:
        super().__init__(
            invocation_id,
            f"The orchestrator holds no status for invocation '{invocation_id}': it was never "
            "registered, belongs to another app, or was purged.",
        )


class ResultNotAvailableError(InvocationError):
    """The result (or exception) of a final invocation is not stored."""


class InvocationTimeoutError(InvocationError):
    """Waiting for an invocation's result took longer than the given timeout."""


class ConcurrencyControlError(PynencError):
    """A concurrency-control rule refused a call."""


class CycleDetectedError(PynencError):
    """A call would close a cycle of invocations waiting on each other."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = chain
        super().__init__(
            "Calling this task would deadlock: the invocations would wait on each other in the "
            f"cycle {' -> '.join(chain)}. Break the cycle (change the arguments or the call "
            "structure), or disable cycle_control if the cycle is intended."
        )


# --- triggers and workflows ----------------------------------------------------------------


class TriggerError(PynencError):
    """A trigger could not be declared, or an event could not be emitted."""


class InvalidTriggerError(TriggerError):
    """A trigger declaration is wrong (bad cron expression, unknown task, bad filter)."""


class InvalidEventError(TriggerError):
    """An event has no usable code, or its payload is not a mapping the serializer can store."""


class WorkflowError(PynencError):
    """A workflow operation could not be carried out."""


class NotInWorkflowError(WorkflowError):
    """A workflow operation was called outside a running workflow invocation."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(
            f"wf.{operation}() can only be called while a workflow runs: from inside a task "
            "decorated with @app.workflow, or a task that a workflow invocation called. Here no "
            "invocation of a workflow is running in this thread."
        )


# --- runners -------------------------------------------------------------------------------


class RunnerError(PynencError):
    """A runner cannot start or work as configured."""


class RunnerNotCompatibleError(RunnerError):
    """The runner cannot work with the configured components (memory across processes)."""


# --- backends ------------------------------------------------------------------------------


class BackendError(PynencError):
    """A backend failed to store or fetch data."""


class ClientDataStoreError(BackendError):
    """A value referenced by a call's arguments is missing from the client data store."""


class BackendAccessError(BackendError):
    """A backend's store cannot be opened or written (path, permissions, a lock held too long)."""


class BackendSchemaError(BackendError):
    """A backend's store was created by a pynenc with an incompatible schema version."""

    def __init__(self, location: str, found: str, expected: str) -> None:
        self.location = location
        self.found = found
        self.expected = expected
        super().__init__(
            f"The pynenc store '{location}' has schema version {found}, but this pynenc-core "
            f"uses schema version {expected}. Run the pynenc version that created it, or point "
            "the backend at a new location (for SQLite: set sqlite_db_path, or delete the file "
            "if its invocations and results are no longer needed)."
        )


# --- command line --------------------------------------------------------------------------


class CliError(PynencError):
    """A ``pynenc`` command was given options it cannot work with (exit status 2)."""


class AppLoadError(CliError):
    """``--app`` does not name a Pynenc app that can be imported."""

    def __init__(self, ref: str, attempts: Iterable[tuple[str, str]], hint: str) -> None:
        self.ref = ref
        self.attempts = list(attempts)
        tried = "".join(f"\n  - {candidate}: {reason}" for candidate, reason in self.attempts)
        super().__init__(f"Cannot load the app '{ref}'. Tried:{tried}\n{hint}")


# --- conformance suite ---------------------------------------------------------------------


class UnknownContractError(PynencError, ValueError):
    """The conformance suite was asked to run a contract it does not have."""

    def __init__(self, names: Iterable[str], known: Iterable[str]) -> None:
        self.names = list(names)
        self.known = list(known)
        super().__init__(
            f"Unknown conformance contract(s) {', '.join(map(repr, self.names))}. Choose among: "
            f"{', '.join(self.known)}."
        )
