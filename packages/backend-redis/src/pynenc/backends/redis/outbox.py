"""Registrations of a burst of calls, sent in the background in batches.

A client that submits calls one after another (``for x in xs: task(x)``) would wait for one
round trip per call, and the server would run one registration script per call. A call
made while earlier registrations of the process are still on their way, or within
:data:`BURST_SECONDS` of the previous call's return, is queued here instead and returns at
once; a sender thread stores everything queued in one script call (``register.lua`` takes
any number of invocations), and when the reply comes back, what was queued meanwhile. The
batches grow with the rate of calls; a lone call (a call after a wait for a result, say) is
still sent by its caller, as before.

Only calls that cannot turn out to reuse another invocation are queued: fresh invocation
ids, no registration concurrency control, no delayed delivery, and every component of the
app on the one server (the registration is one script).

What holds:

- Order: any other command of the process for the same app, from any thread and component,
  first waits until the registrations queued before it are stored. A process never finds its
  own call missing, and whatever it does next (a status read, a wait, a workflow or trigger
  write) happens after the registration it may depend on.
- Failure: the sender retries under the connection policy (store.py). When a client's
  retries run out, the queued registrations are kept; the next call or command of the
  process sends them first, in its own thread, and raises the error while that still fails.
  A registration the server refuses (an error reply: a key of another type at one of the
  app's names, the server out of memory) is dropped, logged at ERROR with its ids, and a wait
  on any of those invocations raises the error.
- Exit: what is queued is sent when the process exits normally (``atexit``); what cannot be
  sent is logged at ERROR with its ids. A process killed outright loses the calls of its
  last round trip, as a client killed during that round trip would have.
- Fork: a forked child starts with nothing queued (its parent sends what it queued).
"""

from __future__ import annotations

import atexit
import collections
import itertools
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pynenc.backends.redis.connection import new_token, pack
from pynenc.backends.redis.exceptions import (
    RedisAuthenticationError,
    RedisRegistrationError,
    RedisUnavailableError,
)
from pynenc.util.cache import LRUCache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pynenc.backends.redis.store import RedisStore

BURST_SECONDS = 0.0002
"""A call this soon after the previous one returned is part of a burst: it is queued."""
MAX_QUEUED = 20_000
"""Calls queued at most; a caller that finds this many waits for the sender (back-pressure)."""
MAX_BATCH = 1_000
"""Invocations per script call at most (a larger backlog goes in several)."""
EXIT_SECONDS = 30.0
"""How long a process that exits waits for its queued registrations to be stored."""
IDLE_SECONDS = 10.0
"""A sender with nothing to send for this long ends (the next call queued starts another)."""
_REFUSED_REMEMBERED = 10_000

_TRANSIENT = (RedisUnavailableError, RedisAuthenticationError)
"""Errors after which the registrations are kept and sent again (the server was not reached)."""


@dataclass(frozen=True)
class _Item:
    """One call's registration: the script's header fields except its token (runner id,
    state retention), its per-invocation entries, and the invocation ids."""

    seq: int
    header: tuple[str, str]
    entries: Sequence[str]
    ids: Sequence[str]


class Outbox:
    """The registrations one process queued for one app on one server."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._changed = threading.Condition(threading.Lock())
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued = 0
        """Invocations in the queue."""
        self._added = 0
        """Sequence number of the last item queued."""
        self._stored = 0
        """Every item up to this sequence number is stored (or was refused)."""
        self._sending = False
        self._error: BaseException | None = None
        """Why the queued registrations are stuck (the sender waits for a caller to retry)."""
        self._sender: threading.Thread | None = None
        self._last_call = -1.0
        self._local = threading.local()
        self.refused: LRUCache[str, BaseException] = LRUCache(_REFUSED_REMEMBERED)
        """Invocations whose registration the server refused, with its error."""

    # ---- the caller's side

    @property
    def unsent(self) -> bool:
        """Whether registrations queued here are not stored yet (cheap; no lock)."""
        return self._added != self._stored

    def in_burst(self) -> bool:
        """Whether a call made now should be queued rather than sent by its caller."""
        return self.unsent or time.monotonic() - self._last_call < BURST_SECONDS

    def called(self) -> None:
        """Note that a call returned (a burst is calls in quick succession)."""
        self._last_call = time.monotonic()

    def add(
        self, runner_id: str, retention: str, entries: Sequence[str], ids: Sequence[str]
    ) -> None:
        """Queue one call's registration (its entries for ``register.lua``)."""
        if self._error is not None:
            self.flush()
        with self._changed:
            while self._queued >= MAX_QUEUED:
                self._changed.wait()
            self._added += 1
            self._queue.append(_Item(self._added, (runner_id, retention), entries, ids))
            self._queued += len(ids)
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._run, name="pynenc-redis-outbox", daemon=True
                )
                self._sender.start()
            elif not self._sending:
                self._changed.notify_all()
        self.called()

    def flush(self, timeout: float | None = None) -> None:
        """Return once every registration queued so far is stored. A caller finds the sender
        stuck (the server was unreachable) sends them itself and raises while that fails.
        Raises :class:`TimeoutError` past ``timeout``. A no-op in the thread sending."""
        if getattr(self._local, "sending", False):
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            target = self._added
            while self._stored < target:
                if self._error is not None and not self._sending:
                    self._send_stuck(target)
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"{self._queued} queued registrations were not stored within {timeout:.1f}s"
                    )
                self._changed.wait(remaining)

    def _send_stuck(self, target: int) -> None:
        """Send (under the lock, released while sending) what the sender gave up on, up to
        ``target``; raise the error while it still fails."""
        batch = self._take(target)
        self._sending = True
        self._changed.release()
        try:
            error = self._send(batch)
        finally:
            self._changed.acquire()
        self._done(batch, error)
        if error is not None:
            raise RedisRegistrationError(
                f"{self._queued} calls of this process are not registered yet ({error}); they "
                "are kept, and sent with its next call or command."
            ) from error

    # ---- the sender's side

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue or self._error is not None or self._sending:
                    if not self._changed.wait(IDLE_SECONDS) and not self._queue:
                        self._sender = None  # the next call queued starts another
                        return
                batch = self._take(self._added)
                self._sending = True
            try:
                error = self._send(batch)
            except BaseException as exc:  # noqa: BLE001 - kept: callers send it again
                error = exc
            with self._changed:
                self._done(batch, error)

    def _take(self, target: int) -> list[_Item]:
        """Items from the head of the queue, up to sequence ``target`` and about
        :data:`MAX_BATCH` invocations (called with the lock held)."""
        batch: list[_Item] = []
        count = 0
        while self._queue and self._queue[0].seq <= target and count < MAX_BATCH:
            item = self._queue.popleft()
            batch.append(item)
            count += len(item.ids)
        return batch

    def _done(self, batch: list[_Item], error: BaseException | None) -> None:
        """Record the outcome of sending ``batch`` (called with the lock held): stored, or
        put back at the head of the queue after a transient error."""
        self._sending = False
        if error is None:
            self._stored = batch[-1].seq
            self._queued -= sum(len(item.ids) for item in batch)
            self._error = None
        else:
            self._queue.extendleft(reversed(batch))
            self._error = error
        self._changed.notify_all()

    def _send(self, batch: list[_Item]) -> BaseException | None:
        """Store the batch: one script call per run of items with the same header. Returns
        the transient error that stopped it (what is left is sent again); a refusal is
        recorded and logged, and counts as done."""
        store = self._store
        self._local.sending = True
        try:
            for (runner_id, retention), run in itertools.groupby(batch, key=lambda i: i.header):
                items = list(run)
                entries = [entry for item in items for entry in item.entries]
                try:
                    store.script("register", register_args(store, runner_id, retention, entries))
                except _TRANSIENT as exc:
                    return exc
                except Exception as exc:  # noqa: BLE001 - refused by the server: no retry helps
                    self._refuse(items, exc)
            return None
        finally:
            self._local.sending = False

    def _refuse(self, items: Sequence[_Item], error: BaseException) -> None:
        ids = [inv_id for item in items for inv_id in item.ids]
        for inv_id in ids:
            self.refused.set(inv_id, error)
        self._store.logger.error(
            "Redis refused the registration of %d queued calls (%s: %s); they were not "
            "registered: %s",
            len(ids),
            type(error).__name__,
            error,
            ", ".join(ids),
        )

    def check_refused(self, invocation_ids: Sequence[str]) -> None:
        """Raise the server's refusal when one of these invocations was never registered."""
        if not self.refused:
            return
        for inv_id in invocation_ids:
            error = self.refused.get(inv_id)
            if error is not None:
                raise RedisRegistrationError(
                    f"Invocation {inv_id} was never registered: the server refused it "
                    f"({type(error).__name__}: {error}). Fix the cause and call the task again."
                ) from error

    def at_exit(self) -> None:
        """Store what is queued before the process exits; log what cannot be."""
        if not self.unsent:
            return
        try:
            self.flush(EXIT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - logged with what is lost
            with self._changed:
                ids = [inv_id for item in self._queue for inv_id in item.ids]
            self._store.logger.error(
                "%d calls of this process could not be registered before it exited (%s); "
                "they are lost: %s",
                len(ids),
                exc,
                ", ".join(ids),
            )

    def forget(self) -> None:
        """In a forked child: nothing queued (the parent sends it), no sender thread."""
        self._changed = threading.Condition(threading.Lock())
        self._queue.clear()
        self._queued = 0
        self._stored = self._added
        self._sending = False
        self._error = None
        self._sender = None
        self._local = threading.local()


def register_args(
    store: RedisStore, runner_id: str, retention: str, items: Sequence[str]
) -> list[str]:
    """The arguments of ``register.lua`` for these per-invocation items, with a new token."""
    return [store.prefix, pack(runner_id, new_token(), retention), *items]


_outboxes: weakref.WeakValueDictionary[tuple[int, str], Outbox] = weakref.WeakValueDictionary()
_all: weakref.WeakSet[Outbox] = weakref.WeakSet()
_outboxes_lock = threading.Lock()


def outbox_for(store: RedisStore) -> Outbox:
    """The outbox of ``store``'s app on its server, in this process (shared by the app's
    components, whose commands must follow its registrations)."""
    key = (id(store.connection), store.prefix)
    found = _outboxes.get(key)
    if found is None or found._store.connection is not store.connection:
        with _outboxes_lock:
            found = _outboxes.get(key)
            if found is None or found._store.connection is not store.connection:
                found = _outboxes[key] = Outbox(store)
                _all.add(found)
    return found


def _flush_all() -> None:
    for outbox in list(_all):
        outbox.at_exit()


def _forget_all() -> None:
    for outbox in list(_all):
        outbox.forget()


atexit.register(_flush_all)
os.register_at_fork(after_in_child=_forget_all)
