"""The embedded default: with no component configured, an app keeps its data in SQLite at a path
derived from its app id under the user's data directory, whatever the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pynenc import Pynenc
from pynenc.broker.sqlite_broker import SQLiteBroker
from pynenc.client_data_store.sqlite_client_data_store import SQLiteClientDataStore
from pynenc.exceptions import BackendAccessError
from pynenc.orchestrator.sqlite_orchestrator import SQLiteOrchestrator
from pynenc.state_backend.sqlite_state_backend import SQLiteStateBackend
from pynenc.testing import tasks
from pynenc.trigger.sqlite_trigger import SQLiteTrigger
from pynenc.util.sqlite import default_db_path

QUIET = {"logging_level": "warning"}


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_the_default_path_is_under_xdg_data_home(data_home: Path) -> None:
    assert default_db_path("orders") == data_home / "pynenc" / "orders.db"


def test_without_xdg_data_home_the_default_path_is_under_local_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path("orders") == tmp_path / ".local" / "share" / "pynenc" / "orders.db"


def test_a_relative_xdg_data_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path("orders") == tmp_path / ".local" / "share" / "pynenc" / "orders.db"


def test_characters_unsafe_in_file_names_are_replaced(data_home: Path) -> None:
    assert default_db_path("team/app id").name == "team_app_id.db"


def test_an_app_without_component_config_uses_the_sqlite_stack(data_home: Path) -> None:
    app = Pynenc(app_id="defaults", config_values=QUIET)
    assert isinstance(app.orchestrator, SQLiteOrchestrator)
    assert isinstance(app.broker, SQLiteBroker)
    assert isinstance(app.state_backend, SQLiteStateBackend)
    assert isinstance(app.trigger, SQLiteTrigger)
    assert isinstance(app.client_data_store, SQLiteClientDataStore)


def test_the_default_database_and_its_directory_are_created_on_first_use(
    data_home: Path,
) -> None:
    app = Pynenc(app_id="first-use", config_values=QUIET)
    expected = data_home / "pynenc" / "first-use.db"
    assert not expected.parent.exists()
    assert app.orchestrator.db.path == expected  # type: ignore[attr-defined]
    app.broker.count_invocations()
    assert expected.is_file()


def test_the_default_path_does_not_depend_on_the_working_directory(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for directory in ("one", "two"):
        (tmp_path / directory).mkdir()
        monkeypatch.chdir(tmp_path / directory)
        paths.append(Pynenc(app_id="same", config_values=QUIET).broker.db.path)  # type: ignore[attr-defined]
    assert paths[0] == paths[1] == data_home / "pynenc" / "same.db"


def test_sqlite_db_path_overrides_the_default_and_is_made_absolute(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = Pynenc(app_id="custom", config_values={**QUIET, "sqlite_db_path": "state/app.db"})
    assert app.state_backend.db.path == tmp_path / "state" / "app.db"  # type: ignore[attr-defined]


def test_an_in_memory_path_is_refused_with_what_to_use_instead(data_home: Path) -> None:
    app = Pynenc(app_id="memory", config_values={**QUIET, "sqlite_db_path": ":memory:"})
    with pytest.raises(BackendAccessError, match="Mem"):
        app.broker.count_invocations()


def test_a_runner_and_a_client_in_different_directories_share_the_default_database(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_dir, runner_dir = tmp_path / "client", tmp_path / "runner"
    client_dir.mkdir()
    runner_dir.mkdir()
    monkeypatch.chdir(client_dir)
    app = Pynenc(app_id="two-terminals", config_values=QUIET)
    invocation = app.get_task(tasks.add.task_id)(20, 22)
    spec = {
        "app_id": "two-terminals",
        "config_values": QUIET,
        "invocation_ids": [invocation.invocation_id],
        "timeout": 60,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.run(
        [sys.executable, "-m", "pynenc.testing.child_runner"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=runner_dir,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert invocation.wait(10) == 42
    app.purge()
