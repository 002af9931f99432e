"""Invocations run inline, in the caller (``dev_mode_force_sync_tasks``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pynenc.identifiers.invocation_id import new_invocation_id
from pynenc.invocation.base_invocation import BaseInvocation, BaseInvocationGroup
from pynenc.invocation.status import InvocationStatus
from pynenc.types import Params, Result

if TYPE_CHECKING:
    from pynenc.call import Call


class SyncInvocation(BaseInvocation[Params, Result]):
    """Runs the call at once (with its retries, without delays) and keeps the outcome."""

    def __init__(self, call: Call[Params, Result]) -> None:
        super().__init__(call, new_invocation_id())
        self._retries = 0
        self._value: Any = None
        self._error: BaseException | None = None
        conf = call.task.conf
        while True:
            try:
                self._value = call.task.run_function(call.arguments)
                self._error = None
                break
            except Exception as exc:  # noqa: BLE001 - the task's own failure is the outcome
                self._error = exc
                if not isinstance(exc, conf.retry_for) or self._retries >= conf.max_retries:
                    break
                self._retries += 1

    @property
    def status(self) -> InvocationStatus:
        return InvocationStatus.FAILED if self._error is not None else InvocationStatus.SUCCESS

    @property
    def num_retries(self) -> int:
        return self._retries

    def wait(self, timeout: float | None = None) -> Result:
        if self._error is not None:
            raise self._error
        value: Result = self._value
        return value

    async def async_result(self) -> Result:
        return self.wait()


class SyncInvocationGroup(BaseInvocationGroup[Params, Result]):
    def __init__(self, invocations: Sequence[SyncInvocation[Params, Result]]) -> None:
        super().__init__(invocations)

    def wait(self, timeout: float | None = None) -> list[Result]:
        return self._values()

    async def async_results(self) -> list[Result]:
        return self._values()
