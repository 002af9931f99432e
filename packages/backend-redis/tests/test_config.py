"""Connection settings: where they come from, how they are checked, and that passwords are never
shown."""

from __future__ import annotations

import pytest

from pynenc import Pynenc
from pynenc.backends.redis.conf import ConfigOrchestratorRedis, ConfigRedis
from pynenc.backends.redis.connection import settings_from
from pynenc.backends.redis.exceptions import RedisConfigError
from pynenc.conf.config_base import REDACTED

from .conftest import COMPONENTS

SECRET = "s3cr3t-pa55"


def test_redis_url_wins_over_the_host_fields() -> None:
    conf = ConfigRedis(
        config_values={"redis_url": "redis://cache.example:7000/3", "redis_host": "other"}
    )
    settings = settings_from(conf)
    assert settings.location == "redis://cache.example:7000/3"


def test_without_a_url_the_host_port_and_db_fields_are_used() -> None:
    conf = ConfigRedis(config_values={"redis_host": "h", "redis_port": 7001, "redis_db": 2})
    assert settings_from(conf).location == "redis://h:7001/2"


def test_a_malformed_url_fails_naming_the_field_but_not_its_value() -> None:
    conf = ConfigRedis(config_values={"redis_url": f"http://user:{SECRET}@host:1/0"})
    with pytest.raises(RedisConfigError, match="redis_url") as info:
        settings_from(conf)
    assert SECRET not in str(info.value)


def test_the_location_shown_in_messages_has_no_credentials() -> None:
    conf = ConfigRedis(config_values={"redis_url": f"redis://user:{SECRET}@host:6380/1"})
    settings = settings_from(conf)
    assert settings.location == "redis://host:6380/1"
    assert SECRET not in repr(settings)


def test_passwords_are_redacted_when_the_config_is_described() -> None:
    conf = ConfigRedis(
        config_values={"redis_password": SECRET, "redis_url": f"redis://:{SECRET}@h:1/0"}
    )
    described = {info.name: info.value for info in conf.describe()}
    assert described["redis_password"] == REDACTED
    assert described["redis_url"] == REDACTED
    assert SECRET not in repr(conf)


def test_the_orchestrator_keeps_upstreams_redis_fields_and_defaults() -> None:
    conf = ConfigOrchestratorRedis()
    assert conf.max_pending_resolution_threads == 50
    assert conf.redis_retry_max_attempts == 3
    assert conf.redis_retry_base_delay_sec == 0.1
    assert conf.redis_retry_max_delay_sec == 1.0


def test_one_top_level_redis_url_reaches_every_component() -> None:
    app = Pynenc(
        app_id="config-check",
        config_values={**COMPONENTS, "redis_url": "redis://127.0.0.1:1/5"},
    )
    stores = [
        app.orchestrator.store,  # type: ignore[attr-defined]
        app.broker.store,  # type: ignore[attr-defined]
        app.state_backend.store,  # type: ignore[attr-defined]
        app.trigger.store,  # type: ignore[attr-defined]
        app.client_data_store.store,  # type: ignore[attr-defined]
    ]
    assert {s.settings.location for s in stores} == {"redis://127.0.0.1:1/5"}
    assert all(stores[0].same_server(s) for s in stores)
