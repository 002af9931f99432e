"""The demo behind ``./dev demo``: run as ``./dev`` runs it (the venv's python, a subprocess),
on the embedded default backend in a data directory of its own: twice on the same data, and over
a database left by another schema version."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"
DEADLINE_SECONDS = 90.0
"""The demo normally takes a couple of seconds; this only bounds a hang on a loaded machine."""


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str

    def line(self, prefix: str) -> str:
        found = [line for line in self.stdout.splitlines() if line.strip().startswith(prefix)]
        assert found, f"no line starting with {prefix!r} in:\n{self.stdout}\n{self.stderr}"
        return found[-1].strip()


def run_demo(data_home: Path) -> DemoRun:
    """Run the demo; past the deadline, SIGTERM it (it stops its runner) and then kill it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNENC")}
    env["XDG_DATA_HOME"] = str(data_home)
    process = subprocess.Popen(
        [sys.executable, str(DEMO)],
        cwd=DEMO.parents[1],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"the demo did not finish in {DEADLINE_SECONDS}s:\n{stdout}\n{stderr}")
    return DemoRun(process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-data-home")


@pytest.fixture(scope="module")
def first_run(data_home: Path) -> DemoRun:
    return run_demo(data_home)


@pytest.fixture(scope="module")
def second_run(data_home: Path, first_run: DemoRun) -> DemoRun:
    return run_demo(data_home)


def test_the_demo_exits_with_status_zero(first_run: DemoRun) -> None:
    assert first_run.returncode == 0, f"{first_run.stdout}\n{first_run.stderr}"


def test_the_demo_uses_the_sqlite_file_under_xdg_data_home(
    first_run: DemoRun, data_home: Path
) -> None:
    expected = data_home / "pynenc" / "pynenc-demo.db"
    assert str(expected) in first_run.line("pynenc demo:")
    assert expected.is_file()


def test_the_demo_prints_every_result(first_run: DemoRun) -> None:
    squares = [i * i for i in range(20)]
    assert first_run.line("square(0..19)") == f"square(0..19)       -> {squares}"
    assert first_run.line("sum_of_squares(10)") == "sum_of_squares(10)  -> 285"


def test_the_retried_task_succeeds_after_two_retries(first_run: DemoRun) -> None:
    assert first_run.line("fetch_quote('PYN')") == (
        "fetch_quote('PYN')  -> 'PYN: 42.00 (after 3 attempts)'  (retries: 2)"
    )


def test_the_demo_prints_the_expected_failure(first_run: DemoRun) -> None:
    assert "failure (expected):" in first_run.stdout
    assert first_run.line("charge(-5)") == (
        "charge(-5)          -> raised ValueError: amount must be positive, got -5  "
        "(status: FAILED)"
    )


def worker_pids(run: DemoRun) -> dict[int, int]:
    """Successes per worker process, from the demo's summary line."""
    line = run.line("successes by worker process:")
    return {int(pid): int(n) for pid, n in re.findall(r"pid (\d+): (\d+)", line)}


def test_every_success_is_recorded_by_a_worker_process_of_the_runner(first_run: DemoRun) -> None:
    # 20 squares, sum_of_squares and fetch_quote succeed; charge fails.
    assert sum(worker_pids(first_run).values()) == 22
    runner_pid = int(re.findall(r"\(pid (\d+)\)", first_run.line("runner: Multi"))[0])
    assert runner_pid not in worker_pids(first_run)


def test_the_runner_is_stopped_cleanly_with_its_worker_processes(first_run: DemoRun) -> None:
    assert first_run.line("runner: stopped") == "runner: stopped by SIGTERM, exit code 0"
    runner_pid = int(re.findall(r"\(pid (\d+)\)", first_run.line("runner: Multi"))[0])
    for pid in [runner_pid, *worker_pids(first_run)]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_second_run_on_the_same_data_shows_the_same_counts(
    first_run: DemoRun, second_run: DemoRun
) -> None:
    assert second_run.returncode == 0, f"{second_run.stdout}\n{second_run.stderr}"
    final = "progress: 33/33 done (0 running, 0 waiting to retry, 1 failed)"
    assert first_run.line("progress:") == final
    assert second_run.line("progress:") == final


def test_a_demo_database_of_another_schema_version_is_recreated(tmp_path: Path) -> None:
    database = tmp_path / "pynenc" / "pynenc-demo.db"
    database.parent.mkdir()
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("CREATE TABLE pynenc_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO pynenc_meta VALUES ('schema_version', '0')")
    run = run_demo(tmp_path)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert "recreated the demo database" in run.stdout
    assert run.line("charge(-5)").endswith("(status: FAILED)")
