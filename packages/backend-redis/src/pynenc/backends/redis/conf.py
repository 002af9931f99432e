"""Configuration of the Redis components.

:class:`ConfigRedis` (section ``redis``) says where the server is and how to talk to it; it is
composed into each component's config (``ConfigOrchestratorRedis(ConfigOrchestrator,
ConfigRedis)``, ...), so one ``redis_url`` at the top level of the configuration reaches all
five components. The orchestrator's config adds the fields of upstream's
``ConfigOrchestratorRedis`` with their meaning.
"""

from __future__ import annotations

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    bounded,
    parse_bool,
    parse_float,
    parse_int,
    parse_str,
)
from pynenc.conf.config_broker import ConfigBroker
from pynenc.conf.config_client_data_store import ConfigClientDataStore
from pynenc.conf.config_orchestrator import ConfigOrchestrator
from pynenc.conf.config_state_backend import ConfigStateBackend
from pynenc.conf.config_trigger import ConfigTrigger

DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024
"""Redis's default ``proto-max-bulk-len``: the largest string one command may carry."""


class ConfigRedis(ConfigPynencBase):
    """Where the Redis server is and how pynenc connects to it (section ``redis``).

    ``redis_url`` wins when set; otherwise the host, port, db, username and password fields
    are used. Every component of an app must point at the same server and database: the
    orchestrator writes the other components' keys in the same atomic step.
    """

    section = "redis"

    redis_url = ConfigField(
        "",
        parser=parse_str,
        secret=True,
        doc="Connection URL (redis://[user:password@]host:port/db, rediss:// for TLS, "
        "unix:///path.sock?db=0); when set it wins over the host/port/db fields. Shown "
        "redacted, since it may hold a password.",
    )
    redis_host = ConfigField("localhost", parser=parse_str, doc="Server host name or address.")
    redis_port = ConfigField(
        6379, parser=bounded(parse_int, gt=0, lt=65536), doc="Server TCP port."
    )
    redis_db = ConfigField(0, parser=bounded(parse_int, ge=0), doc="Database number.")
    redis_username = ConfigField(
        "", parser=parse_str, doc="ACL user name; empty for the default user."
    )
    redis_password = ConfigField(
        "", parser=parse_str, secret=True, doc="Password; empty for none. Never printed."
    )
    redis_socket_timeout_seconds = ConfigField(
        5.0,
        parser=bounded(parse_float, gt=0),
        doc="Longest wait for a reply; blocking waits are cut into pieces shorter than this.",
    )
    redis_socket_connect_timeout_seconds = ConfigField(
        2.0, parser=bounded(parse_float, gt=0), doc="Longest wait for a new connection."
    )
    redis_max_connections = ConfigField(
        64,
        parser=bounded(parse_int, gt=0),
        doc="Connections each process may open to the server (the pool size); a thread that "
        "finds them all busy waits for one.",
    )
    redis_reconnect_base_delay_seconds = ConfigField(
        0.05,
        parser=bounded(parse_float, gt=0),
        doc="First delay of a runner reconnecting to an unreachable server; it doubles per "
        "attempt up to redis_reconnect_max_delay_seconds. Runners retry for as long as they run.",
    )
    redis_reconnect_max_delay_seconds = ConfigField(
        2.0,
        parser=bounded(parse_float, gt=0),
        doc="Cap of the delay between the reconnection attempts of a runner.",
    )
    redis_max_value_bytes = ConfigField(
        DEFAULT_MAX_VALUE_BYTES,
        parser=bounded(parse_int, gt=0),
        doc="Largest serialized value (argument, result, exception, workflow data) pynenc "
        "sends; a larger one fails with a clear error before anything is written. Keep it at "
        "or below the server's proto-max-bulk-len.",
    )


class ConfigOrchestratorRedis(ConfigOrchestrator, ConfigRedis):
    """Settings of RedisOrchestrator: the shared ones, the ``redis`` section and upstream's
    Redis orchestrator fields."""

    max_pending_resolution_threads = ConfigField(
        50,
        parser=bounded(parse_int, gt=0),
        doc="Most threads the orchestrator may use to resolve PENDING invocations whose pending "
        "timeout expired, bounding the connections that takes. This orchestrator resolves them "
        "in the recovery service of the atomic-service slot, without extra threads.",
    )
    redis_retry_max_attempts = ConfigField(
        3,
        parser=bounded(parse_int, ge=0),
        doc="Retries of an operation that hits a missing status (StatusNotFound), and of a "
        "client's operation while the server is unreachable, before it raises.",
    )
    redis_retry_base_delay_sec = ConfigField(
        0.1,
        parser=bounded(parse_float, ge=0),
        doc="Base delay between those retries; attempt n waits base * 2**n.",
    )
    redis_retry_max_delay_sec = ConfigField(
        1.0,
        parser=bounded(parse_float, ge=0),
        doc="Cap of the delay between those retries.",
    )
    redis_register_bursts_in_background = ConfigField(
        True,
        parser=parse_bool,
        doc="Calls made in quick succession (a loop of task calls) return at once and are "
        "registered by a background thread, many per round trip; any other command of the "
        "process waits for them, and an exiting process stores them first. False: every call "
        "returns once it is stored.",
    )


class ConfigBrokerRedis(ConfigBroker, ConfigRedis):
    """Settings of RedisBroker: the shared ones plus the ``redis`` section."""


class ConfigStateBackendRedis(ConfigStateBackend, ConfigRedis):
    """Settings of RedisStateBackend: the shared ones plus the ``redis`` section."""

    state_retention_hours = ConfigField(
        0.0,
        parser=bounded(parse_float, ge=0),
        doc="Hours the state backend keeps an invocation (call, history, result) after it "
        "finished; 0 keeps it until the app is purged. Bounds Redis memory together with the "
        "orchestrator's auto_final_invocation_purge_hours.",
    )


class ConfigTriggerRedis(ConfigTrigger, ConfigRedis):
    """Settings of RedisTrigger: the shared ones plus the ``redis`` section."""


class ConfigClientDataStoreRedis(ConfigClientDataStore, ConfigRedis):
    """Settings of RedisClientDataStore: the shared ones plus the ``redis`` section."""
