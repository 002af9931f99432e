"""Two apps in one database file: each sees only its own rows, and purging one leaves the other
untouched in every table."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing import tasks
from pynenc.trigger.base_trigger import EventRecord
from pynenc.util.sqlite import APP_TABLES

from .conftest import AppFactory


def run_some_work(app: Pynenc, values: list[int]) -> None:
    """Results, history, a large argument in the client data store, trigger records, a queued
    invocation left for no runner: a row in most tables."""
    runner = ThreadRunner(app)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        add = app.get_task(tasks.add.task_id)
        echo = app.get_task(tasks.echo.task_id)
        assert [add(v, 0).wait(30) for v in values] == values
        large = "x" * 5000
        assert echo(large).wait(30) == large
    finally:
        runner.stop_runner_loop()
        assert runner.wait_until_stopped(30)
    app.trigger._store_condition("condition", "{}")
    app.trigger._store_event(EventRecord("event", "code", "{}", app.clock.now()))
    add(0, 0)


def rows_per_table(db_path: Path, app_id: str) -> dict[str, int]:
    with closing(sqlite3.connect(db_path)) as conn:
        return {
            table: conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE app_id = ?", (app_id,)
            ).fetchone()[0]
            for table in APP_TABLES
        }


def test_apps_sharing_a_file_only_count_their_own_invocations(make_app: AppFactory) -> None:
    first, second = make_app(), make_app()
    run_some_work(first, [1, 2, 3])
    run_some_work(second, [4])
    assert first.orchestrator.count_invocations()[InvocationStatus.SUCCESS] == 4
    assert second.orchestrator.count_invocations()[InvocationStatus.SUCCESS] == 2
    assert first.broker.count_invocations() == second.broker.count_invocations() == 1


def test_purging_one_app_leaves_every_row_of_the_other(make_app: AppFactory, db_path: Path) -> None:
    kept, purged = make_app(), make_app()
    run_some_work(kept, [1, 2])
    run_some_work(purged, [3])
    before = rows_per_table(db_path, kept.app_id)
    purged.purge()
    assert rows_per_table(db_path, kept.app_id) == before
    assert set(rows_per_table(db_path, purged.app_id).values()) == {0}
    assert sum(before.values()) > 20
