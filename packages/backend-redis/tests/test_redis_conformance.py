"""The Redis stack passes the whole conformance suite, against a real redis-server."""

from collections.abc import Mapping
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.backends.redis.store import key_prefix
from pynenc.backends.redis.testing import RedisServer
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import *  # noqa: F403
from pynenc.testing import Backdoor


@pytest.fixture
def pynenc_conformance_config(redis_config: dict[str, Any]) -> dict[str, Any]:
    # retries of a missing status (upstream's redis_retry_*) kept short: several scenarios
    # look up invocations that are gone on purpose
    return {**redis_config, "redis_retry_base_delay_sec": 0.005}


class RedisBackdoor(Backdoor):
    """Reads the keys with a connection of its own."""

    def __init__(self, server: RedisServer) -> None:
        self.client = server.client()

    def read_status(self, app: Pynenc, invocation_id: InvocationId) -> InvocationStatus | None:
        status = self.client.hget(f"{key_prefix(app.app_id)}o:inv:{invocation_id}", "s")
        return None if status is None else InvocationStatus(status)

    def read_result(self, app: Pynenc, invocation_id: InvocationId) -> str | None:
        value: str | None = self.client.get(f"{key_prefix(app.app_id)}s:res:{invocation_id}")
        return value

    def read_client_data(self, app: Pynenc) -> Mapping[str, str]:
        prefix = f"{key_prefix(app.app_id)}c:"
        keys = list(self.client.scan_iter(match=prefix + "*"))
        values = self.client.mget(keys) if keys else []
        return {key[len(prefix) :]: value for key, value in zip(keys, values, strict=True)}


@pytest.fixture
def pynenc_backdoor(redis_server: RedisServer) -> Backdoor:
    return RedisBackdoor(redis_server)
