"""Configuration shared by every client data store."""

from __future__ import annotations

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    bounded,
    parse_bool,
    parse_int,
)
from pynenc.conf.config_sqlite import ConfigSQLite


class ConfigClientDataStore(ConfigPynencBase):
    """Client data store settings (section ``client_data_store``)."""

    section = "client_data_store"

    min_size_to_cache = ConfigField(
        1024,
        parser=bounded(parse_int, ge=0),
        doc="Serialized argument length above which the value is stored once under its content "
        "hash and calls carry only the reference; 0 disables it.",
    )
    local_cache_size = ConfigField(
        1024,
        parser=bounded(parse_int, gt=0),
        doc="Entries of the in-process LRU cache of values fetched by reference.",
    )
    disable_client_data_store = ConfigField(
        False,
        parser=parse_bool,
        doc="Always inline argument values, whatever their size.",
    )


class ConfigClientDataStoreSQLite(ConfigClientDataStore, ConfigSQLite):
    """Settings of SQLiteClientDataStore: the shared ones plus the ``sqlite`` section."""
