"""Configuration shared by every broker."""

from __future__ import annotations

from pynenc.conf.config_base import ConfigField, ConfigPynencBase, bounded, parse_float
from pynenc.conf.config_sqlite import ConfigSQLite


class ConfigBroker(ConfigPynencBase):
    """Broker settings (section ``broker``); backend configs inherit from it."""

    section = "broker"

    broker_retrieve_timeout_seconds = ConfigField(
        1.0,
        parser=bounded(parse_float, ge=0),
        doc="Seconds one blocking retrieval waits for an invocation before returning empty, "
        "so a runner regularly gets back control (shutdown, heartbeats); 0 does not wait.",
    )
    broker_lease_seconds = ConfigField(
        30.0,
        parser=bounded(parse_float, gt=0),
        doc="A retrieved message that its runner does not acknowledge (it died between taking "
        "the message and claiming the invocation) is delivered again after this many seconds.",
    )


class ConfigBrokerSQLite(ConfigBroker, ConfigSQLite):
    """Settings of SQLiteBroker: the shared ones plus the ``sqlite`` section."""
