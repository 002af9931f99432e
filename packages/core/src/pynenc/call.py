"""A call: a task together with the arguments it is called with."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic

from pynenc.conf.config_task import ConcurrencyControlType
from pynenc.identifiers.call_id import CallId, arguments_digest
from pynenc.models.call_dto import CallDTO
from pynenc.types import Params, Result

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.task import Task


class Call(Generic[Params, Result]):
    """A task and its bound arguments (keyword form, defaults applied)."""

    def __init__(self, task: Task[Params, Result], arguments: Mapping[str, Any]) -> None:
        self.task = task
        self._arguments = dict(arguments)

    @property
    def app(self) -> Pynenc:
        return self.task.app

    @property
    def arguments(self) -> dict[str, Any]:
        return self._arguments

    @cached_property
    def serialized_arguments(self) -> dict[str, str]:
        """Arguments as stored: serialized, large values replaced by content-hash references."""
        return self.app.client_data_store.serialize_arguments(
            self._arguments, self.task.task_id.key
        )

    @cached_property
    def call_id(self) -> CallId:
        return CallId(self.task.task_id, arguments_digest(self.serialized_arguments))

    def concurrency_key(self, mode: ConcurrencyControlType) -> str | None:
        """What makes two calls equivalent under concurrency-control ``mode``: the task
        (TASK), the task and every argument (ARGUMENTS), the task and its ``key_arguments``
        (KEYS); None when control is DISABLED."""
        if mode == ConcurrencyControlType.DISABLED:
            return None
        task_key = self.task.task_id.key
        if mode == ConcurrencyControlType.TASK:
            return task_key
        if mode == ConcurrencyControlType.ARGUMENTS:
            return self.call_id.key
        serialized = self.serialized_arguments
        keys = {k: serialized[k] for k in self.task.conf.key_arguments if k in serialized}
        return f"{task_key}#keys:{arguments_digest(keys)}"

    @property
    def registration_key(self) -> str | None:
        return self.concurrency_key(self.task.conf.registration_concurrency)

    @property
    def running_key(self) -> str | None:
        return self.concurrency_key(self.task.conf.running_concurrency)

    def to_dto(self) -> CallDTO:
        return CallDTO(self.call_id, self.serialized_arguments)

    def __repr__(self) -> str:
        return f"Call({self.task.task_id.key}, {self.app.format_arguments(self.arguments)})"


class LazyCall(Call[Params, Result]):
    """A call rebuilt from storage: arguments are deserialized only when first accessed."""

    def __init__(self, task: Task[Params, Result], dto: CallDTO) -> None:
        self.task = task
        self._dto = dto
        self.__dict__["serialized_arguments"] = dto.serialized_arguments
        self.__dict__["call_id"] = dto.call_id

    @property
    def arguments(self) -> dict[str, Any]:
        try:
            return self._arguments
        except AttributeError:
            self._arguments = self.app.client_data_store.deserialize_arguments(
                self._dto.serialized_arguments
            )
            return self._arguments

    def to_dto(self) -> CallDTO:
        return self._dto
