"""Fixtures of the Redis backend's tests: one real redis-server for the session."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from pynenc.backends.redis.testing import RedisServer, find_redis_server

COMPONENTS = {
    "orchestrator_cls": "RedisOrchestrator",
    "broker_cls": "RedisBroker",
    "state_backend_cls": "RedisStateBackend",
    "trigger_cls": "RedisTrigger",
    "client_data_store_cls": "RedisClientDataStore",
}


class LogRecords(logging.Handler):
    """The messages of the records logged to the logger it is added to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def require_redis_server() -> str:
    """The redis-server binary; a missing one fails the run on CI and skips it elsewhere."""
    binary = find_redis_server()
    if binary is not None:
        return binary
    message = (
        "redis-server is not installed: `./dev test` installs it (Debian: apt-get install "
        "redis-server), or set PYNENC_TEST_REDIS_SERVER to its path"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def isolated_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing here may fall back to the user's default SQLite data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data-home")))
        yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port without persistence, for the whole session."""
    server = RedisServer(require_redis_server(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def redis_config(redis_server: RedisServer) -> dict[str, object]:
    """Config values selecting every Redis component on the session's server."""
    return {**COMPONENTS, "redis_url": redis_server.url}
