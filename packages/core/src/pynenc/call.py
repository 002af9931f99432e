"""A call: a task together with the arguments it is called with."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic

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

    @cached_property
    def concurrency_key(self) -> str | None:
        """Digest of the ``key_arguments`` values, used by KEYS concurrency control."""
        keys = self.task.conf.key_arguments
        if not keys:
            return None
        serialized = self.serialized_arguments
        return arguments_digest({k: serialized[k] for k in keys if k in serialized})

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
