"""In-memory broker: priority queues per queue name, delayed messages in a time-ordered heap,
and retrieval that blocks on a condition until work is due."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pynenc.broker.base_broker import BaseBroker, BrokerMessage
from pynenc.identifiers.invocation_id import InvocationId

if TYPE_CHECKING:
    from pynenc.app import Pynenc


class MemBroker(BaseBroker):
    """Thread-safe queues in process memory; not shared across processes."""

    cross_process: ClassVar[bool] = False

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self._available = threading.Condition()
        self._seq = itertools.count()
        self._ready: dict[str, list[tuple[int, int, InvocationId]]] = {}
        self._delayed: list[tuple[float, int, BrokerMessage]] = []

    def _route(self, messages: Sequence[BrokerMessage]) -> None:
        now = self.app.clock.time()
        with self._available:
            for message in messages:
                if message.not_before is not None and message.not_before > now:
                    heapq.heappush(self._delayed, (message.not_before, next(self._seq), message))
                else:
                    self._push_ready(message)
            self._available.notify_all()

    def _push_ready(self, message: BrokerMessage) -> None:
        queue = self._ready.setdefault(message.queue, [])
        heapq.heappush(queue, (-message.priority, next(self._seq), message.invocation_id))

    def _promote_due(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            self._push_ready(heapq.heappop(self._delayed)[2])

    def _pop_best(self, queues: Sequence[str] | None) -> InvocationId | None:
        names = self._ready.keys() if queues is None else queues
        best: list[tuple[int, int, InvocationId]] | None = None
        for name in names:
            queue = self._ready.get(name)
            if queue and (best is None or queue[0] < best[0]):
                best = queue
        return heapq.heappop(best)[2] if best else None

    def _retrieve(
        self, max_count: int, queues: Sequence[str] | None, timeout: float
    ) -> list[InvocationId]:
        deadline = time.monotonic() + timeout
        with self._available:
            while True:
                self._promote_due(self.app.clock.time())
                found: list[InvocationId] = []
                while len(found) < max_count:
                    invocation_id = self._pop_best(queues)
                    if invocation_id is None:
                        break
                    found.append(invocation_id)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                if self._delayed:
                    remaining = min(
                        remaining, max(0.0, self._delayed[0][0] - self.app.clock.time())
                    )
                self._available.wait(remaining)

    def _count(self, queue: str | None) -> int:
        with self._available:
            ready = sum(len(q) for name, q in self._ready.items() if queue is None or name == queue)
            delayed = sum(1 for _, _, m in self._delayed if queue is None or m.queue == queue)
            return ready + delayed

    def purge(self) -> None:
        with self._available:
            self._ready.clear()
            self._delayed.clear()
