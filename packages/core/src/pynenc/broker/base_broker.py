"""The broker contract: it carries invocation ids only, in named queues, with priorities and a
"not before" time for delayed delivery (retries with backoff)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pynenc.conf.config_broker import ConfigBroker
from pynenc.identifiers.invocation_id import InvocationId

if TYPE_CHECKING:
    from pynenc.app import Pynenc


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """One queued invocation id; higher ``priority`` is delivered first, FIFO within a priority,
    never before ``not_before`` (epoch seconds of the app's clock)."""

    invocation_id: InvocationId
    queue: str = "default"
    priority: int = 0
    not_before: float | None = None


class BaseBroker(ABC):
    """Queues invocation ids and hands them to runners, blocking while there is nothing due."""

    config_cls: ClassVar[type[ConfigBroker]] = ConfigBroker

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.conf = self.config_cls(sources=app.config_sources)

    def open_connections(self) -> None:
        """As :meth:`BaseOrchestrator.open_connections`; the default opens nothing."""

    @abstractmethod
    def _route(self, messages: Sequence[BrokerMessage]) -> None:
        """Queue the messages, in one step per batch where the store allows."""

    @abstractmethod
    def _retrieve(
        self, max_count: int, queues: Sequence[str] | None, timeout: float
    ) -> list[InvocationId]:
        """Remove and return up to ``max_count`` due ids (best priority first, FIFO within one),
        waiting up to ``timeout`` seconds while none is due. ``queues=None`` means every queue.
        A message whose ``not_before`` lies in the future is not due; a waiting caller wakes
        when it falls due."""

    def _ack(self, invocation_ids: Sequence[InvocationId]) -> None:
        """Forget messages this process retrieved and has now dealt with.

        A backend shared by processes leases retrieved messages instead of deleting them, and
        delivers a message again when it is not acknowledged within ``broker_lease_seconds``
        (its runner died before claiming the invocation). A process-local backend loses
        nothing that way and needs no acknowledgement: the default does nothing."""

    @abstractmethod
    def _count(self, queue: str | None) -> int:
        """Queued messages (due or delayed), in one queue or all."""

    @abstractmethod
    def purge(self) -> None:
        """Delete every queued message of the app."""

    def route_invocation(
        self,
        invocation_id: InvocationId,
        queue: str = "default",
        priority: int = 0,
        not_before: float | None = None,
    ) -> None:
        self._route([BrokerMessage(invocation_id, queue, priority, not_before)])

    def route_invocations(self, messages: Sequence[BrokerMessage]) -> None:
        if messages:
            self._route(messages)

    def retrieve_invocations(
        self,
        max_count: int = 1,
        queues: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> list[InvocationId]:
        """Up to ``max_count`` due invocation ids; waits up to ``timeout`` (default
        ``broker_retrieve_timeout_seconds``) when none is due."""
        if max_count <= 0:
            return []
        wait = self.conf.broker_retrieve_timeout_seconds if timeout is None else timeout
        return self._retrieve(max_count, queues, max(0.0, wait))

    def ack_invocations(self, invocation_ids: Sequence[InvocationId]) -> None:
        """Acknowledge retrieved messages once their invocations are claimed (or found stale)."""
        if invocation_ids:
            self._ack(invocation_ids)

    def retrieve_invocation(self, timeout: float | None = None) -> InvocationId | None:
        ids = self.retrieve_invocations(1, None, timeout)
        return ids[0] if ids else None

    def count_invocations(self, queue: str | None = None) -> int:
        """Queue depth: messages waiting in ``queue`` (or all queues), delayed ones included."""
        return self._count(queue)
