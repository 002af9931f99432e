"""Configuration shared by the SQLite components (the embedded default backend)."""

from __future__ import annotations

from pynenc.conf.config_base import ConfigField, ConfigPynencBase, bounded, parse_float, parse_str


class ConfigSQLite(ConfigPynencBase):
    """SQLite settings (section ``sqlite``), composed into each SQLite component's config.

    The five SQLite components of an app share one database file. Without ``sqlite_db_path``
    it is ``$XDG_DATA_HOME/pynenc/<app_id>.db`` (``~/.local/share/pynenc/<app_id>.db`` when
    ``XDG_DATA_HOME`` is unset), so a runner and a client started from different directories
    find the same data.
    """

    section = "sqlite"

    sqlite_db_path = ConfigField(
        "",
        parser=parse_str,
        doc="Database file shared by the SQLite components; empty means "
        "$XDG_DATA_HOME/pynenc/<app_id>.db (default ~/.local/share/pynenc/<app_id>.db). "
        "Several apps may share one file: every row is keyed by app id.",
    )
    sqlite_busy_timeout_seconds = ConfigField(
        10.0,
        parser=bounded(parse_float, gt=0),
        doc="Seconds a write waits for another process's write lock before failing with an "
        "error naming the database file.",
    )
    sqlite_poll_max_seconds = ConfigField(
        0.05,
        parser=bounded(parse_float, gt=0),
        doc="Cap of the growing poll interval of runners waiting for work queued by other "
        "processes (SQLite cannot notify; work queued in the same process wakes them at once).",
    )
