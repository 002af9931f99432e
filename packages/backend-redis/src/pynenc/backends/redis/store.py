"""What a Redis component stands on: the app's key prefix, the shared connection, and the
connection policy.

Connection policy (what happens while the server is unreachable):

- A process serving a runner (any thread of it, once the runner was seen running) retries for
  as long as the runner runs, with capped exponential backoff
  (``redis_reconnect_base_delay_seconds`` doubling up to ``redis_reconnect_max_delay_seconds``).
  The outage is logged once at WARNING, the recovery at INFO.
- Any other caller (a client submitting work or waiting for results) retries
  ``redis_retry_max_attempts`` times, waiting ``redis_retry_base_delay_sec * 2**attempt``
  (capped by ``redis_retry_max_delay_sec``), then raises :class:`RedisUnavailableError`.

In both, the first failure of a command is retried at once on a fresh connection, unreported:
a pooled connection the server closed (a restart, an idle timeout) is not an outage.

A refused password is reported as :class:`RedisAuthenticationError` at once to clients; runners
keep retrying it like an outage (the password may be fixed on the server).
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pynenc.backends.redis.conf import ConfigOrchestratorRedis, ConfigRedis
from pynenc.backends.redis.connection import (
    RETRIABLE_ERRORS,
    ConnectionSettings,
    RedisConnection,
    connection_for,
    script,
    settings_from,
    translate_error,
)
from pynenc.backends.redis.exceptions import RedisUnavailableError, RedisValueTooLargeError
from pynenc.backends.redis.outbox import outbox_for
from pynenc.invocation import context
from redis.exceptions import AuthenticationError, ResponseError

if TYPE_CHECKING:
    import logging

    from pynenc.app import Pynenc
    from pynenc.runner.base_runner import BaseRunner

T = TypeVar("T")

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def key_prefix(app_id: str) -> str:
    """``pynenc:{<app_id>}:``: every key of the app starts with it. The braces make the app id
    a hash tag (all of an app's keys share one cluster slot, as its Lua scripts need), and any
    character that could make one app's prefix a prefix of another's (or a glob pattern) is
    percent-encoded."""
    safe = _UNSAFE_KEY_CHARS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), app_id)
    return f"pynenc:{{{safe}}}:"


class _Runners:
    """Runners seen running in this process: while one runs, the runner policy applies."""

    def __init__(self) -> None:
        self._runners: weakref.WeakSet[BaseRunner] = weakref.WeakSet()
        self._lock = threading.Lock()

    def note(self, runner: BaseRunner | None) -> None:
        if runner is not None and runner.running and runner not in self._runners:
            with self._lock:
                self._runners.add(runner)

    def any_running(self) -> bool:
        with self._lock:
            return any(r.running for r in self._runners)


_runners_by_connection: weakref.WeakKeyDictionary[RedisConnection, _Runners] = (
    weakref.WeakKeyDictionary()
)
_runners_lock = threading.Lock()


def _runners_of(connection: RedisConnection) -> _Runners:
    with _runners_lock:
        found = _runners_by_connection.get(connection)
        if found is None:
            found = _runners_by_connection[connection] = _Runners()
        return found


class RedisStore:
    """The key prefix of one app on one server, and the policy every command goes through."""

    def __init__(self, app: Pynenc, conf: ConfigRedis) -> None:
        self.app_id = app.app_id
        self.prefix = key_prefix(app.app_id)
        self.settings: ConnectionSettings = settings_from(conf)
        self.connection = connection_for(self.settings)
        self.max_value_bytes = conf.redis_max_value_bytes
        self.reconnect_base = conf.redis_reconnect_base_delay_seconds
        self.reconnect_max = conf.redis_reconnect_max_delay_seconds
        retry = (
            conf
            if isinstance(conf, ConfigOrchestratorRedis)
            else ConfigOrchestratorRedis(sources=conf.sources)
        )
        self.retry_max_attempts = retry.redis_retry_max_attempts
        self.retry_base = retry.redis_retry_base_delay_sec
        self.retry_max = retry.redis_retry_max_delay_sec
        self._runners = _runners_of(self.connection)
        self._app_ref = weakref.ref(app)
        self.outbox = outbox_for(self)
        """Registrations queued in the background: every command first waits for them."""

    def __repr__(self) -> str:
        return f"RedisStore({self.prefix!r} on {self.settings.location})"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def same_server(self, other: object) -> bool:
        """Whether ``other`` (a component's store) writes the same keys on the same server, so
        one script may change both."""
        return (
            isinstance(other, RedisStore)
            and other.connection is self.connection
            and other.prefix == self.prefix
        )

    @property
    def logger(self) -> logging.Logger:
        import logging

        app = self._app_ref()
        return app.logger if app is not None else logging.getLogger("pynenc.redis")

    # ---- running commands

    def note_runner(self) -> None:
        """Remember the runner of the calling thread (if any): from then on every thread of
        the process retries outages for as long as that runner runs."""
        self._runners.note(context.current_runner.get())

    def run(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation`` on the client under the connection policy, once the app's
        registrations queued before it are stored (:mod:`.outbox`)."""
        if self.outbox.unsent:
            self.outbox.flush()
        attempt = 0
        while True:
            clients = self.connection.clients
            started = time.monotonic()
            try:
                client = clients.acquire()
                try:
                    result = operation(client)
                finally:
                    clients.release(client)
            except ResponseError as exc:
                raise translate_error(exc, self.settings, self.prefix) from None
            except RETRIABLE_ERRORS as exc:
                if attempt == 0 and not isinstance(exc, AuthenticationError):
                    # a pooled connection the server closed (restart, idle timeout): the same
                    # command on a fresh connection tells whether the server is really gone
                    clients.discard_idle()
                    attempt = -1
                    continue
                attempt = max(attempt, 0) + 1
                delay = self._retry_delay(exc, attempt)
                self._outage(exc, delay)
                time.sleep(delay)
                continue
            outage = self.connection.outage_started
            if outage is not None and started > outage:
                self._recovered()
            return result

    def script(
        self,
        name: str,
        args: Sequence[Any],
        repeat_args: Callable[[], Sequence[Any]] | None = None,
        *,
        wait_on: tuple[Sequence[str], float] | None = None,
    ) -> Any:
        """Run the Lua script ``lua/<name>.lua`` with ``args`` (its ARGV); a repeat after a
        failed attempt (whose effect is unknown) sends what ``repeat_args`` gives, if given.
        With ``wait_on`` (wake-up lists, seconds) the first attempt runs the script once a
        BLPOP on those lists ends, in the same round trip; a repeat runs the script alone."""
        lua = script(name)
        attempts = 0

        def call(client: Any) -> Any:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                if wait_on is None:
                    return lua(client, args)
                return lua.after_block(client, *wait_on, args)
            return lua(client, args if repeat_args is None else repeat_args())

        return self.run(call)

    def script_then_wait(
        self,
        name: str,
        args: Sequence[Any],
        repeat_args: Callable[[], Sequence[Any]],
        wait_on: tuple[Sequence[str], float],
        then: str,
        then_args: Sequence[Any],
    ) -> tuple[Any, Any]:
        """The script ``name``, then a BLPOP on the wake-up lists ``wait_on`` (lists, seconds),
        then the script ``then``, in one round trip: the replies of both scripts. A repeat
        after a failed attempt (whose effect is unknown) runs ``name`` alone with what
        ``repeat_args`` gives; the second reply is then None."""
        lua = script(name)
        attempts = 0

        def call(client: Any) -> tuple[Any, Any]:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                return lua.then_block(client, args, *wait_on, then, then_args)
            return lua(client, repeat_args()), None

        return self.run(call)

    def delete_matching(self, pattern: str) -> int:
        """Delete every key of the app matching ``pattern`` (after the prefix); returns how
        many. Keys written meanwhile by other processes may survive."""

        def delete(client: Any) -> int:
            removed = 0
            batch: list[str] = []
            for key in client.scan_iter(match=self.prefix + pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(client.unlink(*batch))
                    batch = []
            if batch:
                removed += int(client.unlink(*batch))
            return removed

        return self.run(delete)

    # ---- typed commands (the client is built with decode_responses: replies are str)

    def get(self, key: str) -> str | None:
        return cast("str | None", self.run(lambda c: c.get(key)))

    def mget(self, keys: Sequence[str]) -> list[str | None]:
        return cast("list[str | None]", self.run(lambda c: c.mget(keys)))

    def set(self, key: str, value: str, *, nx: bool = False) -> None:
        self.run(lambda c: c.set(key, value, nx=nx))

    def hget(self, key: str, field: str) -> str | None:
        return cast("str | None", self.run(lambda c: c.hget(key, field)))

    def hmget(self, key: str, fields: Sequence[str]) -> list[str | None]:
        return cast("list[str | None]", self.run(lambda c: c.hmget(key, list(fields))))

    def hgetall(self, key: str) -> dict[str, str]:
        return cast("dict[str, str]", self.run(lambda c: c.hgetall(key)))

    def hset(self, key: str, field: str, value: str) -> None:
        self.run(lambda c: c.hset(key, field, value))

    def hdel(self, key: str, *fields: str) -> None:
        if fields:
            self.run(lambda c: c.hdel(key, *fields))

    def zrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return cast("list[str]", self.run(lambda c: c.zrange(key, start, stop)))

    def zrevrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return cast("list[str]", self.run(lambda c: c.zrevrange(key, start, stop)))

    def zrem(self, key: str, *members: str) -> None:
        if members:
            self.run(lambda c: c.zrem(key, *members))

    def lrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return cast("list[str]", self.run(lambda c: c.lrange(key, start, stop)))

    def check_size(self, value: str, what: str) -> None:
        """Refuse, before anything is written, a value the server would not accept."""
        error = self.size_error(value, what)
        if error is not None:
            raise error

    def size_error(self, value: str, what: str) -> RedisValueTooLargeError | None:
        """The error refusing a value the server would not accept (None when it fits)."""
        if len(value) <= self.max_value_bytes // 4 or len(value.encode()) <= self.max_value_bytes:
            return None
        return RedisValueTooLargeError(
            f"The serialized {what} is {len(value.encode()):,} bytes, more than the "
            f"{self.max_value_bytes:,} bytes Redis accepts in one value "
            "(redis_max_value_bytes); nothing was written. Pass a smaller value, or a "
            "reference to data stored elsewhere."
        )

    # ---- the policy

    def _retry_delay(self, exc: Exception, attempt: int) -> float:
        """How long to wait before attempt ``attempt + 1``, or raise when the caller's policy
        gives up."""
        self.note_runner()
        if self._runners.any_running():
            return min(self.reconnect_base * 2.0 ** (attempt - 1), self.reconnect_max)
        if isinstance(exc, AuthenticationError):
            raise translate_error(exc, self.settings, self.prefix) from None
        if attempt > self.retry_max_attempts:
            raise RedisUnavailableError(
                f"Cannot reach Redis at {self.settings.location} ({type(exc).__name__}: {exc}) "
                f"after {self.retry_max_attempts} retries. Start the server, or fix redis_url "
                "(or redis_host / redis_port); runners keep retrying until it is back."
            ) from None
        return min(self.retry_base * 2.0 ** (attempt - 1), self.retry_max)

    def _outage(self, exc: Exception, delay: float) -> None:
        connection = self.connection
        with connection.outage_lock:
            if connection.outage_started is not None:
                return
            connection.outage_started = time.monotonic()
        self.logger.warning(
            "Redis at %s is unreachable (%s: %s); retrying with backoff up to %.1fs",
            self.settings.location,
            type(exc).__name__,
            str(exc).split("\n")[0],
            self.reconnect_max if self._runners.any_running() else self.retry_max,
        )

    def _recovered(self) -> None:
        connection = self.connection
        with connection.outage_lock:
            started = connection.outage_started
            connection.outage_started = None
        if started is not None:
            self.logger.info(
                "Redis at %s is reachable again after %.1fs",
                self.settings.location,
                time.monotonic() - started,
            )
