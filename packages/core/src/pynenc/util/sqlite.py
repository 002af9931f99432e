"""The database behind the SQLite components: one file, its schema, and safe shared access.

Every SQLite component of every app in a process that names the same file shares one
:class:`SQLiteDatabase`. It hands each thread its own connection (re-opened in a forked child),
runs every read-validate-write as a ``BEGIN IMMEDIATE`` transaction, keeps the file in WAL mode so
readers never block the writer, and carries the in-process wake-up signals (work routed, results
stored) that save same-process waiters from polling. Rows of every table are keyed by app id, so
several apps can share one file.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pynenc.conf.config_sqlite import ConfigSQLite
from pynenc.exceptions import BackendAccessError, BackendError, BackendSchemaError

if TYPE_CHECKING:
    from pynenc.app import Pynenc

logger = logging.getLogger("pynenc.sqlite")

SCHEMA_VERSION = 4
"""Bumped whenever a table or index changes incompatibly; stored in ``pynenc_meta``."""

_PAGE_CACHE_KIB = 512
"""Page cache per connection (SQLite's default is 2 MB): runners open one connection per thread,
and the hot pages are few, so a small cache keeps a runner's memory flat."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)

Row = tuple[Any, ...]
Params = Sequence[Any]

SCHEMA: tuple[str, ...] = (
    # --- orchestrator
    """CREATE TABLE IF NOT EXISTS pynenc_orch_invocations (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        registration_key TEXT,
        running_key TEXT,
        registered_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        runner_id TEXT,
        owner_id TEXT,
        status_at INTEGER NOT NULL,
        retries INTEGER NOT NULL DEFAULT 0)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_orch_inv_id"
    " ON pynenc_orch_invocations (app_id, invocation_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_seq ON pynenc_orch_invocations (app_id, seq)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_status"
    " ON pynenc_orch_invocations (app_id, status, seq)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_status_at"
    " ON pynenc_orch_invocations (app_id, status, status_at)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_task"
    " ON pynenc_orch_invocations (app_id, task_id, status)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_call ON pynenc_orch_invocations (app_id, call_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_regkey ON pynenc_orch_invocations"
    " (app_id, registration_key, status) WHERE registration_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_runkey ON pynenc_orch_invocations"
    " (app_id, running_key, status) WHERE running_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_owner"
    " ON pynenc_orch_invocations (app_id, owner_id) WHERE owner_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_inv_registered"
    " ON pynenc_orch_invocations (app_id, registered_at)",
    """CREATE TABLE IF NOT EXISTS pynenc_orch_runners (
        app_id TEXT NOT NULL,
        runner_id TEXT NOT NULL,
        creation_time INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL,
        allow_atomic INTEGER NOT NULL,
        PRIMARY KEY (app_id, runner_id))""",
    """CREATE TABLE IF NOT EXISTS pynenc_orch_atomic_executions (
        app_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        runner_id TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (app_id, run_id))""",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_atomic_start"
    " ON pynenc_orch_atomic_executions (app_id, start_time)",
    """CREATE TABLE IF NOT EXISTS pynenc_orch_waiting (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        waiter_id TEXT NOT NULL,
        waited_id TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_waiting_waiter"
    " ON pynenc_orch_waiting (app_id, waiter_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_orch_waiting_waited"
    " ON pynenc_orch_waiting (app_id, waited_id)",
    # --- broker
    """CREATE TABLE IF NOT EXISTS pynenc_broker_messages (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        not_before REAL NOT NULL,
        leased INTEGER NOT NULL DEFAULT 0,
        invocation_id TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pynenc_broker_order"
    " ON pynenc_broker_messages (app_id, priority DESC, seq)",
    "CREATE INDEX IF NOT EXISTS pynenc_broker_queue_order"
    " ON pynenc_broker_messages (app_id, queue, priority DESC, seq)",
    "CREATE INDEX IF NOT EXISTS pynenc_broker_delayed"
    " ON pynenc_broker_messages (app_id, not_before) WHERE not_before > 0",
    # --- state backend
    """CREATE TABLE IF NOT EXISTS pynenc_sb_invocations (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        parent_invocation_id TEXT,
        workflow_id TEXT,
        workflow_type TEXT,
        parent_workflow_id TEXT,
        arguments TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_sb_inv_id"
    " ON pynenc_sb_invocations (app_id, invocation_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_sb_inv_parent ON pynenc_sb_invocations"
    " (app_id, parent_invocation_id) WHERE parent_invocation_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_history (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        status TEXT NOT NULL,
        runner_id TEXT,
        status_ts INTEGER NOT NULL,
        runner_context_id TEXT NOT NULL,
        registered_by_inv_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS pynenc_sb_history_inv ON pynenc_sb_history (app_id, invocation_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_sb_history_ts ON pynenc_sb_history (app_id, ts)",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_results (
        app_id TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app_id, invocation_id, kind))""",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_workflow_data (
        app_id TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app_id, workflow_id, key))""",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_workflow_runs (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        workflow_type TEXT NOT NULL,
        parent_workflow_id TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_sb_wf_run_id"
    " ON pynenc_sb_workflow_runs (app_id, workflow_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_sb_wf_run_type"
    " ON pynenc_sb_workflow_runs (app_id, workflow_type)",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_workflow_subs (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        sub_invocation_id TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_sb_wf_sub"
    " ON pynenc_sb_workflow_subs (app_id, workflow_id, sub_invocation_id)",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_app_info (
        app_id TEXT PRIMARY KEY,
        info TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pynenc_sb_runner_contexts (
        app_id TEXT NOT NULL,
        runner_id TEXT NOT NULL,
        context TEXT NOT NULL,
        PRIMARY KEY (app_id, runner_id))""",
    # --- trigger
    """CREATE TABLE IF NOT EXISTS pynenc_trg_conditions (
        app_id TEXT NOT NULL,
        condition_id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app_id, condition_id))""",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_triggers (
        app_id TEXT NOT NULL,
        trigger_id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app_id, trigger_id))""",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_trigger_conditions (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        condition_id TEXT NOT NULL,
        trigger_id TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_trg_tc"
    " ON pynenc_trg_trigger_conditions (app_id, condition_id, trigger_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_trg_tc_trigger"
    " ON pynenc_trg_trigger_conditions (app_id, trigger_id)",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_valid_conditions (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        valid_id TEXT NOT NULL,
        condition_id TEXT NOT NULL,
        value TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_trg_valid_id"
    " ON pynenc_trg_valid_conditions (app_id, valid_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_trg_valid_order"
    " ON pynenc_trg_valid_conditions (app_id, seq)",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_cron_last_run (
        app_id TEXT NOT NULL,
        condition_id TEXT NOT NULL,
        last_run INTEGER NOT NULL,
        PRIMARY KEY (app_id, condition_id))""",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_runs (
        app_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        trigger_id TEXT NOT NULL,
        claimed_at INTEGER NOT NULL,
        invocation_ids TEXT NOT NULL,
        PRIMARY KEY (app_id, run_id))""",
    "CREATE INDEX IF NOT EXISTS pynenc_trg_runs_claimed ON pynenc_trg_runs (app_id, claimed_at)",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_events (
        app_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_code TEXT NOT NULL,
        payload TEXT NOT NULL,
        emitted_at INTEGER NOT NULL,
        PRIMARY KEY (app_id, event_id))""",
    "CREATE INDEX IF NOT EXISTS pynenc_trg_events_emitted"
    " ON pynenc_trg_events (app_id, emitted_at)",
    """CREATE TABLE IF NOT EXISTS pynenc_trg_run_sources (
        seq INTEGER PRIMARY KEY,
        app_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        run_id TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS pynenc_trg_run_sources_key"
    " ON pynenc_trg_run_sources (app_id, source_id, run_id)",
    "CREATE INDEX IF NOT EXISTS pynenc_trg_run_sources_run"
    " ON pynenc_trg_run_sources (app_id, run_id)",
    # --- client data store
    """CREATE TABLE IF NOT EXISTS pynenc_cds_values (
        app_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app_id, key))""",
)

APP_TABLES: tuple[str, ...] = tuple(
    match.group(1)
    for statement in SCHEMA
    if (match := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement))
)
"""Every table holding app rows (all of them carry an ``app_id`` column)."""


# --- values -----------------------------------------------------------------------------------


def to_micros(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime stored by :func:`to_micros`."""
    return _EPOCH + timedelta(microseconds=micros)


def placeholders(count: int) -> str:
    """``?, ?, ...`` for an ``IN (...)`` list of ``count`` values."""
    return ", ".join("?" * count)


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size`` values, keeping ``IN`` lists well under SQLite's limit."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- where the file lives -----------------------------------------------------------------------

_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def default_db_path(app_id: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/pynenc/<app_id>.db``, or ``~/.local/share/pynenc/<app_id>.db`` when
    ``XDG_DATA_HOME`` is unset or not absolute (as the XDG specification says)."""
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME", "")
    root = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return root / "pynenc" / f"{_UNSAFE_FILENAME_CHARS.sub('_', app_id)}.db"


def resolve_db_path(configured: str, app_id: str) -> Path:
    """The absolute database path: ``sqlite_db_path`` if set (``~`` expanded, relative to the
    working directory), else :func:`default_db_path`."""
    if configured.strip() == ":memory:":
        raise BackendAccessError(
            "sqlite_db_path ':memory:' cannot be shared between the threads and processes of "
            "an app. Give a file path, or use the Mem* components for a memory-only app."
        )
    path = Path(configured).expanduser() if configured.strip() else default_db_path(app_id)
    return path.absolute()


# --- wake-ups ------------------------------------------------------------------------------------


class ChangeSignal:
    """A generation counter with a condition: waiters in this process wake when it moves.

    A waiter reads :attr:`generation` before checking the store, and :meth:`wait` returns at
    once if the generation moved since, so a change between its check and its wait is never
    missed.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self.generation = 0

    def notify(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen_generation: int, timeout: float) -> bool:
        """Wait up to ``timeout`` for a change after ``seen_generation``; True if one came."""
        with self._condition:
            if self.generation != seen_generation:
                return True
            if timeout <= 0:
                return False
            self._condition.wait(timeout)
            return self.generation != seen_generation


# --- the database --------------------------------------------------------------------------------

_FIRST_RETRY_SECONDS = 0.00005
_MAX_RETRY_SECONDS = 0.001
"""Busy retries start at 50 us and grow to 1 ms: SQLite's own busy handler sleeps 1 ms and more
from the first retry, far longer than the write transactions here take."""

_WAL_CHECKPOINT_PAGES = 4000
_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""The WAL file is truncated back to this size after a checkpoint that let it grow larger."""

_inherited_connections: list[object] = []
"""Connections a forked child inherited: kept referenced so they are never closed there (closing
a connection opened by the parent would disturb the parent's locks)."""

T = TypeVar("T")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteDatabase:
    """One SQLite file shared by the components of a process: connections, schema, signals."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._schema_ready = False
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self.work_routed = ChangeSignal()
        """Notified after this process queues broker messages."""
        self.results_stored = ChangeSignal()
        """Notified after this process stores final results (orchestrator ``_notify_final``)."""

    def __repr__(self) -> str:
        return f"SQLiteDatabase({str(self.path)!r})"

    # ---- connections

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, and again in a forked child)."""
        if self._pid != os.getpid():
            _inherited_connections.append(self._local)
            self._reset_process_state()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendAccessError(
                f"Cannot create the directory of the SQLite database '{self.path}': {exc}. "
                "Set sqlite_db_path to a writable location."
            ) from exc
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=0,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=512,
            )
        except sqlite3.Error as exc:
            raise self.translate(exc) from exc
        try:
            self._retrying(conn, self._configure)
            if not self._schema_ready:
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        """WAL (readers never block the writer), commits without fsync (the WAL is synced at
        checkpoints), and checkpoints every ~16 MB of WAL rather than 4 MB: hot pages rewritten
        by many commits are copied back once, and the checkpoint's fsync is paid less often."""
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                logger.warning(
                    "SQLite cannot use write-ahead logging here (journal mode %s): readers and "
                    "writers will block each other. Put sqlite_db_path on a local disk.",
                    mode,
                )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{_PAGE_CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT_BYTES}")

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables on first use; refuse a file of another schema version."""
        with self._schema_lock:
            if self._schema_ready:
                return
            found = self._retrying(conn, self._stored_schema_version)
            if found is None:
                found = self._retrying(conn, self._create_schema)
            if found != str(SCHEMA_VERSION):
                raise BackendSchemaError(str(self.path), found, str(SCHEMA_VERSION))
            self._schema_ready = True

    def _create_schema(self, conn: sqlite3.Connection) -> str:
        """Create every table in one transaction (unless another process just did); returns
        the stored schema version."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = self._stored_schema_version(conn)
            if found is None:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS pynenc_meta "
                    "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO pynenc_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                found = str(SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return found

    @staticmethod
    def _stored_schema_version(conn: sqlite3.Connection) -> str | None:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pynenc_meta'"
        ).fetchall()
        if not has_meta:
            return None
        row = conn.execute("SELECT value FROM pynenc_meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else str(row[0])

    def _retrying(self, conn: sqlite3.Connection, action: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``action``, retrying while another connection holds the lock (short, growing
        sleeps, up to ``busy_timeout``); any failure becomes a pynenc error naming the file."""
        delay = _FIRST_RETRY_SECONDS
        deadline: float | None = None
        while True:
            try:
                return action(conn)
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise self.translate(exc) from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.busy_timeout
                if now >= deadline:
                    raise self.translate(exc) from exc
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, _MAX_RETRY_SECONDS)

    def translate(self, exc: sqlite3.Error) -> BackendError:
        """A pynenc error naming the file and what to do, for a failed SQLite call."""
        message = str(exc)
        lowered = message.lower()
        if _is_busy(exc) or "locked" in lowered:
            return BackendAccessError(
                f"SQLite database '{self.path}' stayed locked for more than "
                f"{self.busy_timeout:g}s ({message}): another process holds a write lock. "
                "Stop the process holding it, or raise sqlite_busy_timeout_seconds."
            )
        if any(
            hint in lowered
            for hint in ("readonly", "read-only", "unable to open", "disk i/o", "permission")
        ):
            return BackendAccessError(
                f"Cannot open or write SQLite database '{self.path}' ({message}). Check that "
                "the file and its directory exist and are writable by this user, or set "
                "sqlite_db_path to a writable location."
            )
        if "not a database" in lowered or "malformed" in lowered:
            return BackendAccessError(
                f"'{self.path}' is not a usable SQLite database ({message}). Point "
                "sqlite_db_path at another file, or remove this one if it holds nothing needed."
            )
        return BackendError(f"SQLite database '{self.path}': {message}")

    # ---- statements

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a read (its own snapshot; no transaction is left open)."""
        return self._retrying(self.connection(), lambda conn: conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """One write statement, atomic on its own (rows of a ``RETURNING`` clause); inside a
        :meth:`transaction` of this thread it joins that transaction."""
        conn = self.connection()
        if self._in_transaction():
            return conn.execute(sql, params).fetchall()
        with self._write_lock:
            return self._retrying(conn, lambda c: c.execute(sql, params).fetchall())

    def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """One write statement; how many rows it changed."""
        conn = self.connection()
        if self._in_transaction():
            return conn.execute(sql, params).rowcount
        with self._write_lock:
            return self._retrying(conn, lambda c: c.execute(sql, params).rowcount)

    def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """One statement for many rows, in one transaction."""
        if len(rows) == 1:
            self.execute(sql, rows[0])
        elif rows:
            with self.transaction() as conn:
                conn.executemany(sql, rows)

    def _in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read,
        so a read-validate-write inside it is atomic across threads and processes. Threads of
        this process queue on a local lock rather than contend inside SQLite.

        Transactions nest: writes made by other components sharing this database while a
        transaction of this thread is open join it, so a composite step (a status change with
        its history, a result with its status) commits once."""
        conn = self.connection()
        local = self._local
        if getattr(local, "depth", 0):
            local.depth += 1
            try:
                yield conn
            finally:
                local.depth -= 1
            return
        with self._write_lock:
            self._retrying(conn, _begin_immediate)
            local.depth = 1
            local.after_commit = []
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self.translate(exc) from exc
                raise
            finally:
                local.depth = 0
                signals, local.after_commit = local.after_commit, []
        for signal in signals:
            signal.notify()

    def notify(self, signal: ChangeSignal) -> None:
        """Wake this process's waiters on ``signal`` once what was written is committed."""
        if self._in_transaction():
            if signal not in self._local.after_commit:
                self._local.after_commit.append(signal)
        else:
            signal.notify()

    def data_version(self) -> int:
        """Changes whenever another connection commits: lets pollers skip unchanged reads."""
        return self._retrying(
            self.connection(), lambda conn: int(conn.execute("PRAGMA data_version").fetchone()[0])
        )

    def delete_app_rows(self, tables: Sequence[str], app_id: str) -> None:
        """Remove every row of ``app_id`` from ``tables``, in one transaction."""
        with self.transaction() as conn:
            for table in tables:
                conn.execute(f"DELETE FROM {table} WHERE app_id = ?", (app_id,))


def _begin_immediate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


class SQLiteComponent:
    """What every SQLite component shares: the database of its configured file (one object per
    file per process, shared by the components using it) and the app id keying every row.

    Listed first among a component's bases, so its ``__init__`` runs the contract's first."""

    cross_process: ClassVar[bool] = True
    app: Pynenc
    conf: ConfigSQLite
    db: SQLiteDatabase

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)  # type: ignore[call-arg]
        self.db = database_for(self.conf, app.app_id)

    @property
    def _app_id(self) -> str:
        return self.app.app_id

    def open_connections(self) -> None:
        """Open this thread's connection to the database file (and check its schema)."""
        self.db.connection()


def database_for(conf: ConfigSQLite, app_id: str) -> SQLiteDatabase:
    """The database a SQLite component of app ``app_id`` configured by ``conf`` uses."""
    return open_database(
        resolve_db_path(conf.sqlite_db_path, app_id), conf.sqlite_busy_timeout_seconds
    )


_databases: weakref.WeakValueDictionary[tuple[Path, float], SQLiteDatabase] = (
    weakref.WeakValueDictionary()
)
_databases_lock = threading.Lock()


def open_database(path: Path, busy_timeout: float) -> SQLiteDatabase:
    """The process-wide :class:`SQLiteDatabase` for ``path`` (shared by every component and
    app naming it, so they share connections, the write lock and the wake-up signals). Once no
    component uses it any more, it and its connections are released."""
    key = (path, busy_timeout)
    database = _databases.get(key)
    if database is None:
        with _databases_lock:
            database = _databases.get(key)
            if database is None:
                database = SQLiteDatabase(path, busy_timeout)
                _databases[key] = database
    return database
