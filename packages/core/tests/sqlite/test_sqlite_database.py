"""The database file behind the SQLite stack: schema version, errors naming the path, WAL,
connections per thread and per process, exact timestamps."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pynenc.exceptions import BackendAccessError, BackendSchemaError
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.util.sqlite import (
    APP_TABLES,
    SCHEMA_VERSION,
    SQLiteDatabase,
    from_micros,
    to_micros,
)

from .conftest import AppFactory


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def app_invocation_id() -> InvocationId:
    return InvocationId(uuid.uuid4().hex)


def test_a_new_file_records_the_current_schema_version(make_app: AppFactory, db_path: Path) -> None:
    make_app().broker.count_invocations()
    with closing(raw(db_path)) as conn:
        stored = conn.execute("SELECT value FROM pynenc_meta WHERE key = 'schema_version'")
        assert stored.fetchall() == [(str(SCHEMA_VERSION),)]


def test_a_file_of_another_schema_version_is_refused_naming_file_versions_and_remedy(
    make_app: AppFactory, db_path: Path
) -> None:
    with closing(raw(db_path)) as conn:
        conn.execute("CREATE TABLE pynenc_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO pynenc_meta VALUES ('schema_version', '999')")
    with pytest.raises(BackendSchemaError) as info:
        make_app().broker.count_invocations()
    message = str(info.value)
    assert str(db_path) in message
    assert "999" in message and f"version {SCHEMA_VERSION}" in message
    assert "sqlite_db_path" in message


def test_a_path_below_a_regular_file_is_an_access_error_naming_it(
    make_app: AppFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = blocker / "pynenc.db"
    with pytest.raises(BackendAccessError, match="sqlite_db_path") as info:
        make_app(sqlite_db_path=str(path)).broker.count_invocations()
    assert str(path) in str(info.value)


def test_a_directory_given_as_the_path_is_an_access_error_naming_it(
    make_app: AppFactory, tmp_path: Path
) -> None:
    with pytest.raises(BackendAccessError, match="writable") as info:
        make_app(sqlite_db_path=str(tmp_path)).broker.count_invocations()
    assert str(tmp_path) in str(info.value)


def test_a_file_that_is_not_a_database_is_refused_naming_it(
    make_app: AppFactory, db_path: Path
) -> None:
    db_path.write_bytes(b"this is a text file, not SQLite " * 100)
    with pytest.raises(BackendAccessError, match="not a usable SQLite database") as info:
        make_app().broker.count_invocations()
    assert str(db_path) in str(info.value)


def test_a_write_lock_held_too_long_is_an_access_error_naming_the_file(
    make_app: AppFactory, db_path: Path
) -> None:
    app = make_app(sqlite_busy_timeout_seconds=0.05)
    app.broker.count_invocations()
    with closing(raw(db_path)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(BackendAccessError, match="locked") as info:
            app.broker.route_invocation(app_invocation_id())
        holder.execute("ROLLBACK")
    assert str(db_path) in str(info.value)
    assert "sqlite_busy_timeout_seconds" in str(info.value)


def test_a_write_waits_for_a_lock_released_within_the_busy_timeout(
    make_app: AppFactory, db_path: Path
) -> None:
    app = make_app(sqlite_busy_timeout_seconds=30)
    app.broker.count_invocations()
    writing = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        writing.set()
        try:
            app.broker.route_invocation(app_invocation_id())
        except BaseException as exc:
            errors.append(exc)

    with closing(raw(db_path)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        writer = threading.Thread(target=write)
        writer.start()
        assert writing.wait(10)
        holder.execute("COMMIT")
    writer.join(30)
    assert not errors
    assert app.broker.count_invocations() == 1


def test_the_file_uses_write_ahead_logging(make_app: AppFactory, db_path: Path) -> None:
    make_app().broker.count_invocations()
    with closing(raw(db_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_each_thread_gets_its_own_connection_and_keeps_it(db_path: Path) -> None:
    database = SQLiteDatabase(db_path, busy_timeout=5)
    mine = database.connection()
    theirs: list[sqlite3.Connection] = []
    other = threading.Thread(target=lambda: theirs.append(database.connection()))
    other.start()
    other.join(10)
    assert database.connection() is mine
    assert theirs and theirs[0] is not mine


def _write_in_child(database: SQLiteDatabase, done: multiprocessing.Queue[str]) -> None:
    try:
        database.execute("INSERT INTO pynenc_cds_values VALUES ('child', 'k', 'v')")
        done.put("ok")
    except BaseException as exc:
        done.put(repr(exc))


def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_working(
    db_path: Path,
) -> None:
    database = SQLiteDatabase(db_path, busy_timeout=5)
    database.execute("INSERT INTO pynenc_cds_values VALUES ('parent', 'k', 'v')")
    context = multiprocessing.get_context("fork")
    done: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_write_in_child, args=(database, done))
    child.start()
    assert done.get(timeout=30) == "ok"
    child.join(30)
    assert child.exitcode == 0
    rows = database.query("SELECT app_id FROM pynenc_cds_values ORDER BY app_id")
    assert rows == [("child",), ("parent",)]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2030, 6, 1, 8, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_timestamps_round_trip_to_the_exact_microsecond(moment: datetime) -> None:
    assert from_micros(to_micros(moment)) == moment


def test_a_naive_timestamp_is_taken_as_utc() -> None:
    naive = datetime(2030, 1, 1, 0, 0, 0, 5)
    assert from_micros(to_micros(naive)) == naive.replace(tzinfo=UTC)


def test_every_table_keys_its_rows_by_app_id(make_app: AppFactory, db_path: Path) -> None:
    make_app().broker.count_invocations()
    with closing(raw(db_path)) as conn:
        for table in APP_TABLES:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            assert "app_id" in columns, table
