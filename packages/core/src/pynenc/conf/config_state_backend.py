"""Configuration shared by every state backend."""

from __future__ import annotations

from pynenc.conf.config_base import ConfigField, ConfigPynencBase, bounded, parse_int
from pynenc.conf.config_sqlite import ConfigSQLite


class ConfigStateBackend(ConfigPynencBase):
    """State backend settings (section ``state_backend``); backend configs inherit from it."""

    section = "state_backend"

    runner_context_cache_size = ConfigField(
        1024,
        parser=bounded(parse_int, gt=0),
        doc="Entries of the in-process LRU cache of runner contexts (immutable once stored).",
    )
    invocation_cache_size = ConfigField(
        4096,
        parser=bounded(parse_int, gt=0),
        doc="Entries of the in-process LRU cache of invocations read back from the backend.",
    )


class ConfigStateBackendSQLite(ConfigStateBackend, ConfigSQLite):
    """Settings of SQLiteStateBackend: the shared ones plus the ``sqlite`` section."""
