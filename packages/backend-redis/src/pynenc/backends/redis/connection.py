"""Connections to the Redis server: settings, one pool per process, Lua scripts, error mapping.

Every component of every app in a process that names the same server shares one
:class:`RedisConnection` (a bounded, blocking connection pool, the loaded Lua scripts and the
pub/sub listener). redis-py's own retries are switched off: what to do when the server is
unreachable is the :class:`~pynenc.backends.redis.store.RedisStore`'s connection policy.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import hiredis

import redis
from pynenc.backends.redis.exceptions import (
    RedisAuthenticationError,
    RedisCommandError,
    RedisConfigError,
    RedisKeyTypeError,
)
from pynenc.exceptions import BackendError
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ResponseError,
)
from redis.retry import Retry

if TYPE_CHECKING:
    from pynenc.backends.redis.conf import ConfigRedis
    from pynenc.backends.redis.listener import FinalListener

RETRIABLE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)
"""Errors after which the same command may succeed once the server is reachable again
(``AuthenticationError`` is a ``ConnectionError`` too: a password fixed on the server)."""


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Everything that decides which server and how to connect (hashable: the pool's key)."""

    url: str
    host: str
    port: int
    db: int
    username: str
    password: str
    socket_timeout: float
    connect_timeout: float
    max_connections: int

    @property
    def location(self) -> str:
        """Where the server is, for messages: the URL without its credentials."""
        if not self.url:
            return f"redis://{self.host}:{self.port}/{self.db}"
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{host}{port}" if host else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{netloc}{parts.path}{query}"

    def __repr__(self) -> str:
        return f"ConnectionSettings({self.location!r})"

    @property
    def block_cap(self) -> float:
        """Longest single blocking command: well inside the socket timeout."""
        return max(0.01, self.socket_timeout * 0.8)


def settings_from(conf: ConfigRedis) -> ConnectionSettings:
    """The connection settings of a component config; a malformed URL fails here, naming the
    field and where it was set, never its value (it may hold a password)."""
    settings = ConnectionSettings(
        url=conf.redis_url.strip(),
        host=conf.redis_host,
        port=conf.redis_port,
        db=conf.redis_db,
        username=conf.redis_username,
        password=conf.redis_password,
        socket_timeout=conf.redis_socket_timeout_seconds,
        connect_timeout=conf.redis_socket_connect_timeout_seconds,
        max_connections=conf.redis_max_connections,
    )
    if settings.url:
        try:
            _parse_url(settings.url)
        except ValueError as exc:
            raise RedisConfigError(
                f"redis_url from {conf.source_of('redis_url')} is not a Redis URL ({exc}). "
                "Write it as redis://[user:password@]host:port/db, rediss://... for TLS or "
                "unix:///path/to/redis.sock?db=0."
            ) from None
    return settings


_parse_url: Any = redis.connection.parse_url


# --- Lua scripts ------------------------------------------------------------------------------


SEP = "\x1f"
"""Separates the fields of one script argument: each record (an invocation, a message, a
history entry) travels as one string, far cheaper to send than one argument per field."""


def pack(*fields: object) -> str:
    """The fields of one record as one script argument."""
    return SEP.join(map(str, fields))


_TOKENS = itertools.count()
_TOKEN_PREFIX = [os.urandom(6).hex()]


def _new_token_prefix() -> None:
    _TOKEN_PREFIX[0] = os.urandom(6).hex()


os.register_at_fork(after_in_child=_new_token_prefix)


def new_token() -> str:
    """A token no other call (of any process on any host) uses: a random per-process prefix
    (a forked child draws its own) and a counter. A script call carries one, so a repeat
    after a lost reply is told from another call."""
    return f"{_TOKEN_PREFIX[0]}{next(_TOKENS):x}"


def _status_table_lua() -> str:
    """The status table as the scripts see it: sets of statuses (``,A,B,``) by property. The
    scripts validate and index against this data and nothing else. Also the width of a
    history time window (:data:`~pynenc.backends.redis.codec.HISTORY_WINDOW_US`)."""
    from pynenc.backends.redis.codec import HISTORY_WINDOW_US
    from pynenc.invocation.status import (
        ACTIVE_STATUSES,
        FINAL_STATUSES,
        OWNED_STATUSES,
        InvocationStatus,
    )

    def lua_set(statuses: frozenset[InvocationStatus]) -> str:
        return '",' + ",".join(sorted(s.value for s in statuses)) + ',"'

    return (
        f"local T = {{owned = {lua_set(OWNED_STATUSES)}, active = {lua_set(ACTIVE_STATUSES)}, "
        f"final = {lua_set(FINAL_STATUSES)}, registered = "
        f'"{InvocationStatus.REGISTERED.value}"}}\n'
        f"local HISTORY_WINDOW_US = {HISTORY_WINDOW_US}"
    )


def _lua_source(name: str) -> str:
    return resources.files("pynenc.backends.redis").joinpath("lua", f"{name}.lua").read_text()


class LuaLibrary:
    """Every script of ``lua/`` as a function of one Redis function library (Redis >= 7),
    loaded once per server with FUNCTION LOAD and called with FCALL. The shared prelude's
    helpers are defined once, when the library loads, instead of on every call as a script's
    would be. A server that lost the library (restarted without persistence, FUNCTION FLUSH)
    gets it again on the "function not found" reply. The library and function names carry a
    hash of the source, so processes of different versions can share a server."""

    def __init__(self) -> None:
        root = resources.files("pynenc.backends.redis").joinpath("lua")
        names = sorted(
            entry.name[:-4]
            for entry in root.iterdir()
            if entry.name.endswith(".lua") and entry.name != "prelude.lua"
        )
        prelude = _lua_source("prelude").replace(_PRELUDE_PREFIX, "", 1)
        bodies = "\n".join(
            f"local function script_{name}()\n{_lua_source(name)}\nend" for name in names
        )
        digest = hashlib.sha1((prelude + bodies).encode()).hexdigest()[:16]
        self.name = f"pynenc_{digest}"
        self.functions = {name: f"{self.name}_{name}" for name in names}
        registrations = "\n".join(
            f"redis.register_function('{function}', function(_, args) "
            f"ARGV = args; P = args[1]; return script_{name}() end)"
            for name, function in self.functions.items()
        )
        self.source = "\n".join(
            (
                f"#!lua name={self.name}",
                _status_table_lua(),
                "local P, ARGV",
                prelude,
                bodies,
                registrations,
            )
        )

    def call(self, client: Any, name: str, args: Sequence[Any]) -> Any:
        """Call the script ``name`` on ``client`` (a single-connection client of
        :class:`ClientPool`): straight on its connection, past redis-py's per-command
        machinery (the hot path)."""
        function = self.functions[name]
        try:
            return _call_on(client.connection, "FCALL", function, 0, *args)
        except ResponseError as exc:
            if not _library_missing(exc):
                raise
            self.load(client)  # on a server without functions, raises what to do
            return _call_on(client.connection, "FCALL", function, 0, *args)

    def call_after_block(
        self, client: Any, name: str, bells: Sequence[str], seconds: float, args: Sequence[Any]
    ) -> Any:
        """BLPOP on ``bells`` for up to ``seconds``, then the script ``name``, sent together: the
        server runs the script as soon as the wait ends (a wake-up token popped, or the time
        ran out), so waking up and what follows it cost one round trip."""
        function = self.functions[name]
        try:
            return _call_pipelined_on(
                client.connection,
                ("BLPOP", *bells, f"{seconds:.3f}"),
                ("FCALL", function, 0, *args),
            )[1]
        except ResponseError as exc:
            if not _library_missing(exc):
                raise
            self.load(client)
            return _call_on(client.connection, "FCALL", function, 0, *args)

    def call_then_block(
        self,
        client: Any,
        name: str,
        args: Sequence[Any],
        bells: Sequence[str],
        seconds: float,
        then: str,
        then_args: Sequence[Any],
    ) -> tuple[Any, Any]:
        """The script ``name``, a BLPOP on ``bells`` for up to ``seconds``, then the script
        ``then``, sent together: one round trip for a step, the wait that follows it and what
        follows the wait. Returns the replies of both scripts; on a server that lost the
        library, loads it and runs ``name`` alone (the second reply is then None)."""
        try:
            replies = _call_pipelined_on(
                client.connection,
                ("FCALL", self.functions[name], 0, *args),
                ("BLPOP", *bells, f"{seconds:.3f}"),
                ("FCALL", self.functions[then], 0, *then_args),
            )
        except ResponseError as exc:
            if not _library_missing(exc):
                raise
            self.load(client)
            return self.call(client, name, args), None
        return replies[0], replies[2]

    def load(self, client: Any) -> None:
        """Load the library (another process may just have done it)."""
        try:
            _call_on(client.connection, "FUNCTION", "LOAD", self.source)
        except ResponseError as exc:
            message = str(exc).lower()
            if "unknown command" in message:
                raise RedisCommandError(
                    "this Redis server has no FUNCTION command: pynenc-redis needs Redis >= 7.0 "
                    f"(the server said: {exc}); upgrade the server or point redis_url at one"
                ) from exc
            if "already exists" not in message:
                raise


def _library_missing(exc: ResponseError) -> bool:
    """Whether the server refused a call because it does not have the library (it lost it,
    or it has no functions at all: :meth:`LuaLibrary.load` says which)."""
    message = str(exc).lower()
    return "function not found" in message or "unknown command" in message


_PRELUDE_PREFIX = "local P = ARGV[1]\n"
"""How the prelude starts; in the library, each call sets the prefix instead."""


class LuaScript:
    """The script ``lua/<name>.lua``, called as its function of the :class:`LuaLibrary`."""

    def __init__(self, name: str, library: LuaLibrary) -> None:
        self.name = name
        self._library = library
        self.function = library.functions[name]

    def __call__(self, client: Any, args: Sequence[Any]) -> Any:
        return self._library.call(client, self.name, args)

    def then_block(
        self,
        client: Any,
        args: Sequence[Any],
        bells: Sequence[str],
        seconds: float,
        then: str,
        then_args: Sequence[Any],
    ) -> tuple[Any, Any]:
        """The script, then a wait on ``bells`` and the script ``then``
        (:meth:`LuaLibrary.call_then_block`)."""
        return self._library.call_then_block(
            client, self.name, args, bells, seconds, then, then_args
        )

    def after_block(
        self, client: Any, bells: Sequence[str], seconds: float, args: Sequence[Any]
    ) -> Any:
        """The script, run once a wait on ``bells`` ends (:meth:`LuaLibrary.call_after_block`)."""
        return self._library.call_after_block(client, self.name, bells, seconds, args)

    def __repr__(self) -> str:
        return f"LuaScript({self.name!r})"


def _packed(connection: Any, commands: Sequence[Sequence[Any]]) -> Any:
    """``commands`` in the wire protocol. The hot path's arguments are strings and integers,
    which hiredis packs (as UTF-8) in one C call each, without redis-py's per-argument
    encoding; anything else goes through the connection's own packer."""
    try:
        return [b"".join([hiredis.pack_command(tuple(command)) for command in commands])]
    except TypeError:
        return connection.pack_commands(commands)


def _call_on(connection: Any, *command: Any) -> Any:
    """Send one command and read its reply; a connection left in an unknown state (an error
    while sending or reading) is closed, so its next use connects afresh."""
    try:
        connection.send_packed_command(_packed(connection, (command,)))
        return connection.read_response()
    except ResponseError:
        raise
    except BaseException:
        connection.disconnect()
        raise


def _call_pipelined_on(connection: Any, *commands: Sequence[Any]) -> list[Any]:
    """Send ``commands`` in one write and read every reply (one round trip); the first error
    reply is raised once all are read, so the connection stays in step. As in
    :func:`_call_on`, a connection left in an unknown state is closed."""
    try:
        connection.send_packed_command(_packed(connection, commands))
        replies: list[Any] = []
        error: ResponseError | None = None
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:
                error = error or exc
                replies.append(exc)
    except BaseException:
        connection.disconnect()
        raise
    if error is not None:
        raise error
    return replies


_scripts: dict[str, LuaScript] = {}
_scripts_lock = threading.Lock()
_library: list[LuaLibrary] = []


def script(name: str) -> LuaScript:
    """The script ``lua/<name>.lua`` (with the status table and the shared prelude), read once
    per process."""
    found = _scripts.get(name)
    if found is None:
        with _scripts_lock:
            if not _library:
                _library.append(LuaLibrary())
            found = _scripts.setdefault(name, LuaScript(name, _library[0]))
    return found


# --- errors -----------------------------------------------------------------------------------


def translate_error(exc: Exception, settings: ConnectionSettings, prefix: str) -> BackendError:
    """A pynenc error that says what to do, for a server reply that is not a lost connection."""
    message = str(exc)
    if isinstance(exc, AuthenticationError) or message.startswith(("WRONGPASS", "NOAUTH")):
        return RedisAuthenticationError(
            f"Redis at {settings.location} refused the credentials ({message.split('.')[0]}). "
            "Check redis_username and redis_password (or the user and password of redis_url)."
        )
    if "WRONGTYPE" in message:
        return RedisKeyTypeError(
            f"A key under '{prefix}*' on Redis at {settings.location} holds a value of another "
            f"type than pynenc writes there ({message}). Another program writes to pynenc's "
            "keys: delete that key, or give this app another app_id or redis_db."
        )
    if message.startswith("OOM"):
        return RedisCommandError(
            f"Redis at {settings.location} is out of memory ({message}); nothing was written. "
            "Raise maxmemory, purge old data (auto_final_invocation_purge_hours, "
            "state_retention_hours) or free memory on the server."
        )
    if message.startswith("READONLY"):
        return RedisCommandError(
            f"Redis at {settings.location} is a read-only replica ({message}). Point pynenc at "
            "the primary."
        )
    return RedisCommandError(f"Redis at {settings.location} refused a command: {message}")


def is_server_reply_error(exc: Exception) -> bool:
    return isinstance(exc, ResponseError)


# --- the shared connection ----------------------------------------------------------------------


class ClientPool:
    """Up to ``size`` clients, each with its own connection, lent to one thread per command.

    Far cheaper per command than redis-py's blocking pool: taking an idle client is a
    lock-free ``deque.pop``. A thread that finds every client lent waits up to ``timeout``
    seconds, then gets a ``ConnectionError`` (retried like an outage)."""

    def __init__(self, pool: Any, size: int, timeout: float) -> None:
        self._pool = pool
        self._size = size
        self._timeout = timeout
        self._idle: collections.deque[Any] = collections.deque()
        self._created = 0
        self._waiting = 0
        self._changed = threading.Condition(threading.Lock())

    def acquire(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            return self._acquire_slowly()

    def _acquire_slowly(self) -> Any:
        deadline = time.monotonic() + self._timeout
        with self._changed:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._created < self._size:
                    self._created += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise redis.ConnectionError(
                        "No connection available: every pooled Redis connection stayed busy; "
                        "raise redis_max_connections"
                    )
                self._waiting += 1
                try:
                    self._changed.wait(remaining)
                finally:
                    self._waiting -= 1
        try:
            return redis.Redis(connection_pool=self._pool, single_connection_client=True)
        except BaseException:
            with self._changed:
                self._created -= 1
                self._changed.notify()
            raise

    def release(self, client: Any) -> None:
        self._idle.append(client)
        if self._waiting:
            with self._changed:
                self._changed.notify()

    def discard_idle(self) -> None:
        """Close every idle connection: after one was found closed by the server (a restart),
        the others opened before are closed too; new ones are opened as needed."""
        while True:
            try:
                client = self._idle.pop()
            except IndexError:
                return
            connection = getattr(client, "connection", None)
            if connection is not None:
                connection.disconnect()
            client.close()
            with self._changed:
                self._created -= 1
                self._changed.notify()

    def close(self) -> None:
        self.discard_idle()


class RedisConnection:
    """The pool, and the pub/sub listener, shared by every component naming these settings."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        common: dict[str, Any] = {
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
        }
        pool: Any
        if settings.url:
            pool = redis.ConnectionPool.from_url(settings.url, **common)
        else:
            pool = redis.ConnectionPool(
                host=settings.host,
                port=settings.port,
                db=settings.db,
                username=settings.username or None,
                password=settings.password or None,
                **common,
            )
        self.pool = pool
        self.clients = ClientPool(pool, settings.max_connections, settings.socket_timeout)
        self.client: Any = redis.Redis(connection_pool=pool)
        """For the pub/sub listener only (its connection is not counted in the pool size)."""
        self._listener: FinalListener | None = None
        self._lock = threading.Lock()
        self.outage_started: float | None = None
        """monotonic() when the current outage was first seen (None while reachable)."""
        self.outage_lock = threading.Lock()

    @property
    def listener(self) -> FinalListener:
        """The pub/sub listener of this process (started on first use)."""
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    from pynenc.backends.redis.listener import FinalListener

                    self._listener = FinalListener(self)
        return self._listener

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.clients.close()
        self.pool.disconnect()

    def __repr__(self) -> str:
        return f"RedisConnection({self.settings.location!r})"


_connections: dict[tuple[ConnectionSettings, int], RedisConnection] = {}
_connections_lock = threading.Lock()


def connection_for(settings: ConnectionSettings) -> RedisConnection:
    """The process-wide connection for ``settings`` (a forked child gets its own). It lives as
    long as the process: its pool and listener serve every app naming these settings."""
    key = (settings, os.getpid())
    found = _connections.get(key)
    if found is None:
        with _connections_lock:
            found = _connections.get(key)
            if found is None:
                found = RedisConnection(settings)
                _connections[key] = found
    return found
