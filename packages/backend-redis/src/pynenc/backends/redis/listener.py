"""Result notifications: one pub/sub connection per process, and the result waiters of an app.

The step that makes an invocation final publishes ``id|status|runner|micros`` on the app's
channel (``pynenc:{app}:o:final``) in the same script. A :class:`FinalListener` thread per
process and server receives them and hands them to each app's :class:`FinalWaiters`, which
wakes the threads waiting on those ids. Messages sent while the listener is disconnected are
lost, so a disconnection and every (re)subscription make every waiter read the stored state
again.

While no thread waits on a notification (a client submitting calls it will await later), nor
started waiting in the last :data:`WAITED_LATELY_SECONDS`, the listener lets each burst of them
gather for up to :data:`GATHER_SECONDS` and reads it in one go, instead of waking for every
one; a thread that starts waiting ends the pause at once. The pause only delays what this
process remembers of recent final moves (a status read in it finds them in the store instead),
never a wait.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pynenc.backends.redis.codec import parse_notification
from pynenc.backends.redis.connection import RETRIABLE_ERRORS
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.util.cache import TTLCache

if TYPE_CHECKING:
    from pynenc.backends.redis.connection import RedisConnection
    from pynenc.invocation.status import InvocationStatusRecord
RECENT_SECONDS = 30.0
"""How long a process remembers final records it was notified of (so a waiter that arrives
just after the notification needs no round trip)."""

RECENT_RECORDS = 4096
"""Final records (and results) a process remembers from notifications at most: enough for a
client that submits a few thousand calls before awaiting them to read none of them."""

RECENT_VALUE_CHARS = 1024 * 1024
"""Total size of the notified results and exceptions a process keeps (each is at most
``INLINE_VALUE_BYTES``)."""


GATHER_SECONDS = 0.02
"""Longest the listener lets notifications gather while no thread waits on one."""

WAITED_LATELY_SECONDS = 0.1
"""A process where a thread started waiting this recently is still taken as waiting: one that
waits for one result after another is served as it was, without pauses."""


class ChannelHandler(Protocol):
    def on_message(self, data: str) -> None: ...

    def on_reset(self) -> None: ...

    @property
    def waiting(self) -> bool:
        """Whether a thread waits on a notification (it should be read at once)."""
        ...

    def notify_waiting_to(self, nudge: Callable[[], None]) -> None:
        """Call ``nudge`` whenever a thread starts waiting."""
        ...


class FinalListener:
    """The pub/sub connection of this process to one server, shared by every app."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._handlers: dict[str, weakref.WeakSet[ChannelHandler]] = {}
        self._receivers: dict[str, tuple[weakref.ref[ChannelHandler], ...]] = {}
        """Each channel's handlers as the listener thread last saw them (read without the
        lock; rebuilt when a handler is added or gone)."""
        self._subscribed: set[str] = set()
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._pausing = False
        self.epoch = 0
        """Changes whenever the subscriptions are lost or made: a reader that saw the same
        epoch before and after knows no notification was missed in between."""

    def watch(self, channel: str, handler: ChannelHandler, timeout: float) -> bool:
        """Deliver ``channel``'s messages to ``handler`` (held weakly); True once the
        subscription is confirmed, False if that took longer than ``timeout``."""
        with self._changed:
            handlers = self._handlers.get(channel)
            if handlers is None:
                handlers = self._handlers[channel] = weakref.WeakSet()
                self._send("subscribe", channel)
            handlers.add(handler)
            handler.notify_waiting_to(self._nudge)
            self._receivers.pop(channel, None)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="pynenc-redis-listener", daemon=True
                )
                self._thread.start()
            return self._changed.wait_for(lambda: channel in self._subscribed, timeout)

    def is_subscribed(self, channel: str) -> bool:
        return channel in self._subscribed

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._changed.notify_all()
            pubsub = self._pubsub
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # noqa: BLE001 - closing a connection that may be broken
                pass

    # ---- the listener thread

    def _send(self, command: str, *channels: str) -> None:
        """(Un)subscribe on the live connection (lock held); a broken one is replaced by the
        thread, which subscribes every channel again."""
        if self._pubsub is None or not channels:
            return
        try:
            if command == "subscribe":
                self._pubsub.subscribe(*channels)
            else:
                self._pubsub.unsubscribe(*channels)
        except RETRIABLE_ERRORS:
            pass

    def _run(self) -> None:
        settings = self._connection.settings
        delay = 0.05
        while not self._stopped:
            pubsub = self._connection.client.pubsub()
            try:
                with self._lock:
                    self._pubsub = pubsub
                    self._send("subscribe", *self._handlers)
                delay = 0.05
                while not self._stopped:
                    connection = pubsub.connection
                    if connection is None:
                        pubsub.get_message(timeout=settings.block_cap)  # nothing subscribed
                    elif connection.can_read(timeout=settings.block_cap):
                        # straight from the connection (every reply already read is parsed
                        # without another system call): notifications come by thousands
                        self._dispatch(connection.read_response(push_request=True))
                        self._gather(connection)
            except RETRIABLE_ERRORS:
                if self.stopped:
                    return
                self._lost()
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:  # noqa: BLE001 - never let the listener die; waiters re-read
                self._lost()
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with self._lock:
                    if self._pubsub is pubsub:
                        self._pubsub = None
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - the connection is gone anyway
                    pass

    def _prompt(self) -> bool:
        """Whether notifications must be read as they come: a thread waits on one, a
        subscription is not confirmed yet, or the listener is stopping."""
        if self._stopped or any(c not in self._subscribed for c in self._handlers):
            return True
        return any(h.waiting for group in self._handlers.values() for h in group)

    def _gather(self, connection: Any) -> None:
        """Unless notifications must be read as they come, let the next ones gather for a
        while once every one that came is read (see the module's docs)."""
        with self._changed:
            if self._prompt():
                return
        if connection.can_read(timeout=0):
            return
        with self._changed:
            self._pausing = True
            try:
                self._changed.wait_for(self._prompt, GATHER_SECONDS)
            finally:
                self._pausing = False

    def _nudge(self) -> None:
        """A thread started waiting: end the pause, if there is one."""
        if self._pausing:
            with self._changed:
                self._changed.notify_all()

    def _dispatch(self, reply: Any) -> None:
        """One pub/sub reply: ``[kind, channel, data]``."""
        if not isinstance(reply, list) or len(reply) != 3:
            return
        kind, channel, data = reply
        if not isinstance(channel, str):
            return
        if kind == "message":
            if isinstance(data, str):
                for handler in self._handlers_of(channel):
                    handler.on_message(data)
        elif kind == "subscribe":
            with self._changed:
                self._subscribed.add(channel)
                self.epoch += 1
                self._changed.notify_all()
            for handler in self._handlers_of(channel):
                handler.on_reset()

    def _handlers_of(self, channel: str) -> list[ChannelHandler]:
        refs = self._receivers.get(channel)
        if refs is not None:
            found = [h for h in (ref() for ref in refs) if h is not None]
            if len(found) == len(refs):
                return found
        with self._lock:
            handlers = self._handlers.get(channel)
            found = list(handlers) if handlers is not None else []
            self._receivers[channel] = tuple(weakref.ref(h) for h in found)
            if handlers is not None and not found:
                del self._handlers[channel]
                del self._receivers[channel]
                self._subscribed.discard(channel)
                self._send("unsubscribe", channel)
        return found

    def _lost(self) -> None:
        """The connection broke: nothing is subscribed until the thread reconnects, and every
        waiter must read the stored state (notifications sent meanwhile are lost)."""
        with self._lock:
            self._subscribed.clear()
            self.epoch += 1
            handlers = [h for group in self._handlers.values() for h in group]
        for handler in handlers:
            handler.on_reset()


class _Waiter:
    """One thread waiting on some invocations."""

    __slots__ = ("event", "found", "ids", "recheck")

    def __init__(self, ids: Sequence[InvocationId]) -> None:
        self.ids = ids
        self.event = threading.Event()
        self.found: dict[InvocationId, InvocationStatusRecord] = {}
        self.recheck = False


class NotifiedValues:
    """Results and exceptions that came with notifications, each kept ``ttl`` seconds, at most
    ``maxsize`` of them and ``max_chars`` characters in all (the oldest go first)."""

    def __init__(self, maxsize: int, max_chars: int, ttl: float) -> None:
        self.maxsize = maxsize
        self._max_chars = max_chars
        self._ttl = ttl
        self._chars = 0
        self._data: OrderedDict[InvocationId, tuple[float, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def set(self, invocation_id: InvocationId, kind: str, value: str) -> None:
        expires = time.monotonic() + self._ttl
        with self._lock:
            old = self._data.pop(invocation_id, None)
            if old is not None:
                self._chars -= len(old[2])
            self._data[invocation_id] = (expires, kind, value)
            self._chars += len(value)
            while self._data and (len(self._data) > self.maxsize or self._chars > self._max_chars):
                _, (_, _, dropped) = self._data.popitem(last=False)
                self._chars -= len(dropped)

    def get(self, invocation_id: InvocationId, kind: str) -> str | None:
        """The value of ``kind`` (``r`` result, ``e`` exception) notified for the invocation."""
        with self._lock:
            found = self._data.get(invocation_id)
            if found is None or found[1] != kind:
                return None
            if time.monotonic() >= found[0]:
                self._drop(invocation_id)
                return None
            return found[2]

    def pop(self, invocation_id: InvocationId) -> None:
        with self._lock:
            self._drop(invocation_id)

    def _drop(self, invocation_id: InvocationId) -> None:
        old = self._data.pop(invocation_id, None)
        if old is not None:
            self._chars -= len(old[2])

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._chars = 0


class FinalWaiters:
    """The result waiters of one app in this process, and what it was recently notified of:
    final records, and the small results and exceptions that came with them. Shared by the
    app's orchestrator and state backend (see :func:`finals_for`)."""

    def __init__(self, maxsize: int) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[InvocationId, list[_Waiter]] = {}
        self.recent: TTLCache[InvocationId, InvocationStatusRecord] = TTLCache(
            maxsize, RECENT_SECONDS, time.monotonic
        )
        self.capacity = maxsize
        self.values = NotifiedValues(maxsize, RECENT_VALUE_CHARS, RECENT_SECONDS)
        self.notified = 0
        """Notifications received so far (a record notified fewer than ``capacity``
        notifications ago is still in ``recent``, unless it expired)."""
        self._nudges: list[Callable[[], None]] = []
        self._waited_at = float("-inf")

    @property
    def waiting(self) -> bool:
        return bool(self._waiters) or time.monotonic() - self._waited_at < WAITED_LATELY_SECONDS

    def notify_waiting_to(self, nudge: Callable[[], None]) -> None:
        with self._lock:
            if nudge not in self._nudges:
                self._nudges.append(nudge)

    def add(self, invocation_ids: Sequence[InvocationId]) -> _Waiter:
        """Register a waiter; records already notified are in its ``found`` at once."""
        waiter = _Waiter(invocation_ids)
        self._waited_at = time.monotonic()
        with self._lock:
            for invocation_id in invocation_ids:
                self._waiters.setdefault(invocation_id, []).append(waiter)
                record = self.recent.get(invocation_id)
                if record is not None:
                    waiter.found[invocation_id] = record
            nudges = self._nudges
        if waiter.found:
            waiter.event.set()
        for nudge in nudges:
            nudge()
        return waiter

    def remove(self, waiter: _Waiter) -> None:
        with self._lock:
            for invocation_id in waiter.ids:
                waiting = self._waiters.get(invocation_id)
                if waiting is None:
                    continue
                try:
                    waiting.remove(waiter)
                except ValueError:
                    pass
                if not waiting:
                    del self._waiters[invocation_id]

    def recent_records(
        self, invocation_ids: Iterable[InvocationId]
    ) -> dict[InvocationId, InvocationStatusRecord]:
        found = {}
        for invocation_id in invocation_ids:
            record = self.recent.get(invocation_id)
            if record is not None:
                found[invocation_id] = record
        return found

    def take_value(self, invocation_id: InvocationId, kind: str) -> str | None:
        """The notified result (``r``) or exception (``e``) of an invocation, if one came."""
        return self.values.get(invocation_id, kind)

    def forget(self, invocation_ids: Iterable[InvocationId] | None = None) -> None:
        """Drop what was notified (of some invocations, or all): they were deleted."""
        if invocation_ids is None:
            self.recent.clear()
            self.values.clear()
            return
        for invocation_id in invocation_ids:
            self.recent.pop(invocation_id)
            self.values.pop(invocation_id)

    # ---- ChannelHandler

    def on_message(self, data: str) -> None:
        note = parse_notification(data)
        if note is None:
            return
        invocation_id, record = note.invocation_id, note.record
        if note.value_kind:
            self.values.set(invocation_id, note.value_kind, note.value)
        self.recent.set(invocation_id, record)
        with self._lock:
            self.notified += 1
            waiting = list(self._waiters.get(invocation_id, ()))
            for waiter in waiting:
                waiter.found[invocation_id] = record
        for waiter in waiting:
            waiter.event.set()

    def on_reset(self) -> None:
        with self._lock:
            waiting = {id(w): w for group in self._waiters.values() for w in group}
            for waiter in waiting.values():
                waiter.recheck = True
        for waiter in waiting.values():
            waiter.event.set()


_finals: weakref.WeakValueDictionary[tuple[int, str], FinalWaiters] = weakref.WeakValueDictionary()
_finals_lock = threading.Lock()


def finals_for(connection: RedisConnection, prefix: str) -> FinalWaiters:
    """The :class:`FinalWaiters` of the app with key ``prefix`` on ``connection``'s server in
    this process (one, however many app objects and components use it)."""
    key = (id(connection), prefix)
    with _finals_lock:
        found = _finals.get(key)
        if found is None:
            found = _finals[key] = FinalWaiters(RECENT_RECORDS)
        return found
