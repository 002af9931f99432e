"""Identity of a task: the module and the function name a runner imports it by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskId:
    """``module`` and ``func_name`` of a task; ``key`` is the ``module.func_name`` string form."""

    module: str
    func_name: str

    @property
    def key(self) -> str:
        return f"{self.module}.{self.func_name}"

    @property
    def config_key(self) -> str:
        """The id as it appears in per-task config keys."""
        return self.key

    def __str__(self) -> str:
        return self.key

    @classmethod
    def from_key(cls, key: str) -> TaskId:
        """Parse ``module.func_name`` (the module part may itself contain dots)."""
        module, sep, func_name = key.rpartition(".")
        if not sep or not module or not func_name:
            raise ValueError(f"'{key}' is not a task id of the form 'module.function'")
        return cls(module, func_name)
