"""Redis broker: invocation ids in sorted sets, one per queue, taken by a runner in the step
that claims them (or leased to it until it acknowledges them).

- Due messages: ``b:q:<queue>``, scored by (-priority, sequence), so the lowest score is the best
  priority and, within one, the oldest. Delayed messages wait in ``b:timers`` scored by their
  "not before" time (the app's clock) and join their queue once due.
- A runner's round takes the best due messages in the orchestrator's script that claims their
  invocations (``lua/claim_round.lua``) and deletes them there. Retrieval on its own
  (``lua/retrieve.lua``, used when the orchestrator is not on this server) leases them instead:
  each gets a lease in ``b:timers`` scored by its expiry until acknowledged (:meth:`_ack`, or
  the orchestrator's claim); a lease that expires unacknowledged (its runner died) puts the
  message back in its queue. Delayed messages and leases share that one sorted set, so a round
  learns with one look at its first entry whether anything is due.
- Waiting: a runner with nothing due blocks on BLPOP on its queues' wake-up lists
  (``b:bell:<queue>``, or ``b:bell`` for every queue), at most until the next delayed message
  or lease falls due. Routing pushes a token there (at most one is kept); a retrieval that
  leaves due messages behind pushes one for the next runner.

Round trips: routing is one script per batch; a retrieval (or a runner's round) is one script
when work is waiting, plus one blocking pop per wake-up when there is none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pynenc.backends.redis.conf import ConfigBrokerRedis
from pynenc.backends.redis.connection import pack
from pynenc.backends.redis.orchestrator import clamp_priority
from pynenc.backends.redis.store import RedisStore
from pynenc.broker.base_broker import BaseBroker, BrokerMessage
from pynenc.exceptions import BackendError
from pynenc.identifiers.invocation_id import InvocationId

if TYPE_CHECKING:
    from pynenc.app import Pynenc

T = TypeVar("T")

_SHORTEST_BLOCK = 0.001
"""Redis reads a blocking timeout of 0 as "forever": shorter waits are not blocked on."""


class RedisBroker(BaseBroker):
    """Named queues with priorities, delayed delivery and leases, shared by every process
    configured with the same server and app id."""

    config_cls: ClassVar[type[ConfigBrokerRedis]] = ConfigBrokerRedis
    conf: ConfigBrokerRedis
    cross_process: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)
        self._leases: dict[InvocationId, list[str]] = {}
        self._leases_lock = threading.Lock()
        self._local = threading.local()
        """Per retrieving thread: messages leased ahead (``stash``) and, after a round that
        found nothing, until when nothing is due (``idle_until``)."""

    def _route(self, messages: Sequence[BrokerMessage]) -> None:
        args: list[str] = [self.store.prefix, repr(self.app.clock.time())]
        for m in messages:
            args.append(
                pack(
                    m.invocation_id,
                    m.queue,
                    clamp_priority(m.priority),
                    "" if m.not_before is None else repr(m.not_before),
                )
            )
        self.store.script("route", args)

    def _retrieve(
        self, max_count: int, queues: Sequence[str] | None, timeout: float
    ) -> list[InvocationId]:
        local = self._local
        stash: list[tuple[str, str]] = getattr(local, "stash", [])
        if stash and queues is None:
            taken, local.stash = stash[:max_count], stash[max_count:]
            return self._leased([i for i, _ in taken], [m for _, m in taken])
        names = list(queues or ())
        clock = self.app.clock
        deadline = time.monotonic() + timeout

        def attempt() -> tuple[list[tuple[str, str]] | None, float | None]:
            now = clock.time()
            _, pairs, next_due = self._take(
                pack(repr(now), repr(now + self.conf.broker_lease_seconds), max_count, 0, ""),
                names,
                deadline,
            )
            return pairs or None, next_due

        pairs = self.poll(attempt, queues, timeout)
        if not pairs:
            return []
        return self._leased([i for i, _ in pairs], [m for _, m in pairs])

    def poll(
        self,
        attempt: Callable[[], tuple[T | None, float | None]],
        queues: Sequence[str] | None,
        timeout: float,
        woken: Callable[[list[str], float], tuple[T | None, float | None]] | None = None,
    ) -> T | None:
        """Take due work with ``attempt`` (one script: what it took, or None when nothing was
        due, and when the next delayed message or lease falls due), blocking on the queues'
        wake-up lists between attempts, for up to ``timeout`` seconds. After a call that found
        nothing, the next blocks at once: anything routed since then left a wake-up token.

        ``woken(bells, seconds)``, when given, does the wait and the attempt that follows it in
        one round trip (``wait_on`` of :meth:`RedisStore.script`)."""
        self.store.note_runner()
        deadline = time.monotonic() + timeout
        local = self._local
        next_due: float | None = getattr(local, "idle_until", None) if timeout > 0 else None
        idle = next_due is not None
        local.idle_until = None
        bells = self._bells(queues)
        clock = self.app.clock
        while True:
            if not idle:
                found, next_due = attempt()
                if found is not None:
                    return found
            idle = False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                local.idle_until = next_due if next_due is not None else float("inf")
                return None
            wait = min(remaining, self.store.settings.block_cap)
            if next_due is not None and next_due != float("inf"):
                wait = min(wait, max(0.0, next_due - clock.time()))
            if wait >= _SHORTEST_BLOCK:
                if woken is None:
                    self._block(bells, wait)
                    continue
                found, next_due = woken(bells, wait)
                if found is not None:
                    return found
                idle = True  # that attempt found nothing: block again
            elif remaining < _SHORTEST_BLOCK:
                return None

    def wait_after_step(
        self, timeout: float, queues: Sequence[str] | None
    ) -> tuple[list[str], float] | None:
        """When the calling thread's last round found nothing due, the wake-up lists and how
        long a wait sent with its next step should last (up to ``timeout``, and never past
        the next delayed message or lease); None when that step should not wait."""
        local = self._local
        next_due: float | None = getattr(local, "idle_until", None)
        if next_due is None:
            next_due = getattr(local, "drained_until", None)
        if next_due is None or timeout <= 0:
            return None
        wait = min(timeout, self.store.settings.block_cap)
        if next_due != float("inf"):
            wait = min(wait, max(0.0, next_due - self.app.clock.time()))
        if wait < _SHORTEST_BLOCK:
            return None
        self.store.note_runner()
        return self._bells(queues), wait

    def took_due(self, left: str) -> None:
        """The calling thread's round took work; ``left`` is what the round said was left:
        "+" (more due messages), else when the next delayed message or lease falls due ("" =
        none). A thread that took the last due message may wait with its next step."""
        local = self._local
        local.idle_until = None
        if left == "+":
            local.drained_until = None
        else:
            local.drained_until = float(left) if left else float("inf")

    def nothing_due(self, next_due: float | None) -> None:
        """The calling thread just found nothing due (in a step of its own, e.g. a final move
        with its claim): its next :meth:`poll` blocks at once."""
        self._local.idle_until = next_due if next_due is not None else float("inf")
        self._local.drained_until = None

    def take_with_waited(self, max_count: int, waited_limit: int, runnable: str) -> list[str]:
        """One round trip for a runner's round: the invocations others wait on that it may
        claim now (returned), and up to ``max_count`` due messages of every queue, leased and
        kept for this thread's next :meth:`_retrieve`."""
        local = self._local
        stash: list[tuple[str, str]] = getattr(local, "stash", [])
        now = self.app.clock.time()
        waited, pairs, next_due = self._take(
            pack(
                repr(now),
                repr(now + self.conf.broker_lease_seconds),
                max(0, max_count - len(stash)),
                waited_limit,
                runnable,
            ),
            [],
            time.monotonic() + 1.0,
        )
        local.stash = stash + pairs
        local.idle_until = (
            None if local.stash else (next_due if next_due is not None else float("inf"))
        )
        return waited

    def _take(
        self, header: str, names: list[str], deadline: float
    ) -> tuple[list[str], list[tuple[str, str]], float | None]:
        """Run the retrieval script: (waited ids, leased (id, lease member) pairs, next due)."""
        raw = self.run_script("retrieve", [self.store.prefix, header, *names], deadline=deadline)
        waited_count = int(raw[1])
        waited = list(raw[2 : 2 + waited_count])
        rest = raw[2 + waited_count :]
        pairs = list(zip(rest[0::2], rest[1::2], strict=True))
        return waited, pairs, float(raw[0]) if raw[0] else None

    def run_script(
        self,
        name: str,
        args: Sequence[str],
        repeat_args: Callable[[], Sequence[str]] | None = None,
        *,
        deadline: float,
        wait_on: tuple[Sequence[str], float] | None = None,
    ) -> Any:
        """Run a script that takes work (after a wait on wake-up lists, in the same round
        trip, with ``wait_on``: see :meth:`RedisStore.script`); a refusal that will not go away
        by itself (a :class:`BackendError`) is raised after a pause, so a runner does not spin
        on it."""
        try:
            return self.store.script(name, args, repeat_args, wait_on=wait_on)
        except BackendError:
            time.sleep(max(0.0, min(deadline - time.monotonic(), 1.0)))
            raise

    def _bells(self, queues: Sequence[str] | None) -> list[str]:
        if queues is None:
            return [self.store.key("b", "bell")]
        return [self.store.key("b", "bell", name) for name in queues]

    def _block(self, bells: list[str], seconds: float) -> None:
        """Wait on the wake-up lists for up to ``seconds`` (popping the token, if any)."""
        self.store.run(lambda c: c.blpop(bells, timeout=seconds))

    def _leased(self, ids: Sequence[str], members: Sequence[str]) -> list[InvocationId]:
        delivered = [InvocationId(i) for i in ids]
        with self._leases_lock:
            for invocation_id, member in zip(delivered, members, strict=True):
                self._leases.setdefault(invocation_id, []).append(member)
        return delivered

    def take_leases(self, invocation_ids: Sequence[InvocationId]) -> list[str]:
        """Hand over the lease entries of retrieved messages, for a script that acknowledges
        them together with the claim (after which :meth:`_ack` has nothing left to do)."""
        with self._leases_lock:
            return [m for i in invocation_ids for m in self._leases.pop(i, ())]

    def _ack(self, invocation_ids: Sequence[InvocationId]) -> None:
        members = self.take_leases(invocation_ids)
        if members:
            self.store.zrem(self.store.key("b", "timers"), *members)

    def _count(self, queue: str | None) -> int:
        return int(self.store.script("count", [self.store.prefix, queue or ""]))

    def purge(self) -> None:
        self.store.delete_matching("b:*")
        with self._leases_lock:
            self._leases.clear()
        self._local = threading.local()
