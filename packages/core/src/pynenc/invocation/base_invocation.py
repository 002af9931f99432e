"""What calling a task returns: a handle on one execution request of a call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic

from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.types import Params, Result

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.call import Call
    from pynenc.task import Task


class BaseInvocation(ABC, Generic[Params, Result]):
    """An invocation: an id, a status and, once final, a result or an exception."""

    def __init__(self, call: Call[Params, Result], invocation_id: InvocationId) -> None:
        self.call = call
        self.invocation_id = invocation_id

    @property
    def app(self) -> Pynenc:
        return self.call.app

    @property
    def task(self) -> Task[Params, Result]:
        return self.call.task

    @property
    @abstractmethod
    def status(self) -> InvocationStatus: ...

    @property
    def result(self) -> Result:
        """Block until final; return the value or re-raise the task's exception."""
        return self.wait()

    @abstractmethod
    def wait(self, timeout: float | None = None) -> Result:
        """Like :attr:`result`, raising :class:`InvocationTimeoutError` after ``timeout``."""

    @abstractmethod
    async def async_result(self) -> Result: ...

    @property
    @abstractmethod
    def num_retries(self) -> int: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.invocation_id[:7]}, {self.call!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseInvocation) and other.invocation_id == self.invocation_id

    def __hash__(self) -> int:
        return hash(self.invocation_id)


class BaseInvocationGroup(ABC, Generic[Params, Result]):
    """The invocations created by ``task.parallelize``."""

    def __init__(self, invocations: Sequence[BaseInvocation[Params, Result]]) -> None:
        self.invocations = list(invocations)

    def __iter__(self) -> Iterator[BaseInvocation[Params, Result]]:
        return iter(self.invocations)

    def __len__(self) -> int:
        return len(self.invocations)

    @property
    def results(self) -> list[Result]:
        """Every result in submission order (the first failure is re-raised)."""
        return self.wait()

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Result]: ...

    @abstractmethod
    async def async_results(self) -> list[Result]: ...

    def _values(self) -> list[Any]:
        return [inv.result for inv in self.invocations]
